"""Train the CIFAR-10 ResNet/PlainNet family and map their loss landscapes."""

__version__ = "0.2.0"
