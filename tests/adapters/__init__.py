"""The adapters (Grain, HF datasets, Ray Data, tf.data and its custom op), with the core and with presets."""
