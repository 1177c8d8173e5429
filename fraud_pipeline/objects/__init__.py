"""The object-store port (S3 or a folder): see `store.ObjectStore`."""

from fraud_pipeline.objects.store import ObjectInfo, ObjectStore, ObjectStoreError

__all__ = ["ObjectInfo", "ObjectStore", "ObjectStoreError"]
