"""Training pipeline of the bundled model (optional extra ``train``: needs PyTorch).

Nothing in the application imports this package; it is left out of the frozen build.
"""
