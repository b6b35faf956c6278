"""pyiceberg FileIO properties for an s3:// warehouse on Garage, from the environment the tests pass
(TAILSAMPLER_S3_ENDPOINT, _REGION, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY); none when it is not set."""
import os


def s3_properties():
    if "TAILSAMPLER_S3_ENDPOINT" not in os.environ:
        return {}
    return {
        "s3.endpoint": os.environ["TAILSAMPLER_S3_ENDPOINT"],
        "s3.region": os.environ["TAILSAMPLER_S3_REGION"],
        "s3.access-key-id": os.environ["TAILSAMPLER_S3_ACCESS_KEY_ID"],
        "s3.secret-access-key": os.environ["TAILSAMPLER_S3_SECRET_ACCESS_KEY"],
        "s3.path-style-access": "true",
    }
