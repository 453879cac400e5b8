"""Savings estimator for the call-recording cost optimizer.

Models S3 storage and pipeline processing cost over N years, either with the
reference article's assumptions (to check the model against its Table 2) or
with the S3 rules the article leaves out. Run ``python -m estimator --help``;
see docs/estimator.md. Importing the package never imports matplotlib.
"""

from .prices import PriceError, load_prices

__all__ = ["PriceError", "load_prices"]
