from tests.query.dataset import dataset

__all__ = ["dataset"]
