"""PyTorch trainer for vqcodec models: the Swift model family layer for layer (see README.md)."""
