"""detec_fraude model package: simulator, shared features, training, artifacts and scoring.

Imported from the repository root (``import ml_model.features``) by training and by the fraud
detection service alike, so both compute features and scores with the same code.
"""
