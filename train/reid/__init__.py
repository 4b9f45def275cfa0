"""Multi-task vehicle ReID (PAMTRI): DenseNet121 with pose inputs, colour and type heads. See docs/REID.md."""
