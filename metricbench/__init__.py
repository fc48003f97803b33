"""metricbench: distances, learned metrics and honest evaluation for embeddings."""
