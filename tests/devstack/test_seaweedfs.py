"""The S3 harness is real: the bucket exists, the generated keys work and any other secret key is refused,
as MinIO or AWS would refuse it."""
import pytest
from botocore.exceptions import ClientError


def test_the_keys_are_checked(seaweed_s3):
    seaweed_s3.client().put_object(Bucket=seaweed_s3.bucket, Key="harness/probe.txt", Body=b"probe")
    body = seaweed_s3.client().get_object(Bucket=seaweed_s3.bucket, Key="harness/probe.txt")["Body"].read()
    assert body == b"probe"
    with pytest.raises(ClientError) as refused:
        seaweed_s3.client(secret_key="not-" + seaweed_s3.keys.secret_key).list_objects_v2(Bucket=seaweed_s3.bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert seaweed_s3.keys.secret_key not in repr(seaweed_s3.keys)
