"""Neural building blocks: the analysis, synthesis and hyper transforms."""
