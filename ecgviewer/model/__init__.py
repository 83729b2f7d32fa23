"""Running the network: the model contract, the onnxruntime session, the Keras importer."""
