"""StanceFrame inference library: label schema, sentence segmentation and the predictor."""
