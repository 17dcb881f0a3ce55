"""Fixtures of the API tests; they live in `api_support` with the helpers the tests import."""

from api_support import aws, env, onet, shared_botocore_loader  # noqa: F401
