"""Training: experiments, the validation-steered loop, checkpoints and run folders."""
