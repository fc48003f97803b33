"""Learned metrics: fitted on labelled train embeddings, then used like any distance."""

from metricbench.learn.base import BaseMetric, DistanceMetric, LinearMetric, load_metric

__all__ = ["BaseMetric", "DistanceMetric", "LinearMetric", "load_metric"]
