"""Uploads in an S3-compatible bucket: moto's standalone S3 server on loopback (tests/uploads/
conftest.py ``moto``), a real HTTP endpoint that Parley's storage (django-storages, boto3) talks to.
Upload: the objects are in the bucket and nothing in the media folder; download: after the same
access check, a 302 to a short-lived presigned URL that answers the same bytes with Parley's type
and disposition (an outsider: 404, no redirect); a deleted message's and pruned uploads' objects
leave the bucket. The storage path does not depend on the database: these run once."""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path

import pytest

from tests.uploads.conftest import S3_KEYS, S3_REGION
from tests.uploads.kit import (
    Db,
    attach,
    call,
    get_url,
    manage,
    messages_path,
    noise,
    png,
    stored_files,
    up,
    wait_until,
)

pytestmark = pytest.mark.embedded_only


@pytest.fixture(scope="module")
def bucket(moto):
    name = f"parley-{uuid.uuid4().hex[:8]}"
    moto.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def s3_env(moto, bucket, tmp_path_factory):
    return {
        "PARLEY_S3_BUCKET": bucket,
        "PARLEY_S3_ENDPOINT_URL": moto.endpoint,
        "PARLEY_S3_ACCESS_KEY_ID": S3_KEYS["aws_access_key_id"],
        "PARLEY_S3_SECRET_ACCESS_KEY": S3_KEYS["aws_secret_access_key"],
        "PARLEY_S3_REGION": S3_REGION,
        "PARLEY_MEDIA_ROOT": str(tmp_path_factory.mktemp("s3-media")),
    }


@pytest.fixture(scope="module")
def s3_server(media_farm, s3_env):
    server = media_farm.start(**s3_env)
    yield server
    server.stop()


def keys(moto, bucket) -> set[str]:
    listed = moto.client().list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listed.get("Contents", [])}


def redirected(server, url, **kw) -> str:
    answer = call(server.http, "GET", url, **kw)
    assert answer.status == 302, (url, answer.status, answer.body[:300])
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"].startswith("private")
    return answer.headers["location"]


def test_an_upload_goes_to_the_bucket_and_a_download_is_a_presigned_redirect(
    s3_server, s3_env, moto, bucket, accounts, media_farm, room
):
    alice, bob = accounts.new(), accounts.new()
    before = keys(moto, bucket)
    image = up(s3_server, alice, room, name="사진.png", data=png(640, 480))
    data = noise(3000)
    other = up(s3_server, alice, room, name="data.bin", data=data)
    added = keys(moto, bucket) - before
    db = Db(media_farm)
    image_keys, other_keys = db.keys(image["id"]), db.keys(other["id"])
    assert len(image_keys) == 2 and added == {*image_keys, *other_keys}  # the file, its thumbnail, the other
    assert stored_files(Path(s3_env["PARLEY_MEDIA_ROOT"])) == {}
    client = moto.client()
    assert client.get_object(Bucket=bucket, Key=other_keys[0])["Body"].read() == data

    # Before a message carries them: the uploader is redirected, anyone else gets the plain 404.
    location = redirected(s3_server, other["url"], token=alice.token)
    for who in ({"token": bob.token}, {}):
        refused = call(s3_server.http, "GET", other["url"], **who)
        assert refused.status == 404 and "location" not in refused.headers
    parts = urllib.parse.urlsplit(location)
    query = urllib.parse.parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == moto.endpoint
    assert "X-Amz-Signature" in query  # SigV4, which every region takes
    assert int(query["X-Amz-Expires"][0]) <= 60  # short-lived
    fetched = get_url(location)
    assert fetched.status == 200 and fetched.body == data
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert fetched.headers["content-disposition"] == "attachment; filename*=UTF-8''data.bin"

    # Once a message carries them, whoever may read the room (a guest in public).
    message = attach(s3_server, alice, [image["id"], other["id"]], room)
    picture = get_url(redirected(s3_server, image["url"]))
    assert picture.status == 200
    assert picture.body == client.get_object(Bucket=bucket, Key=image_keys[0])["Body"].read()
    assert picture.headers["content-type"] == "image/png"
    assert picture.headers["content-disposition"] == "inline; filename*=UTF-8''" + urllib.parse.quote("사진.png")
    small = get_url(redirected(s3_server, image["thumbnail_url"], token=bob.token))
    assert small.status == 200 and small.body[:4] == b"RIFF" and small.headers["content-type"] == "image/webp"
    assert call(s3_server.http, "GET", f"/files/{image['id']}/wrong.png").status == 404

    # Deleting the message removes the objects from the bucket.
    gone = call(s3_server.http, "DELETE", f"{messages_path(room)}/{message}", token=alice.token)
    assert gone.status == 204
    wait_until(lambda: not (added & keys(moto, bucket)), what="the objects removed from the bucket")
    refused = call(s3_server.http, "GET", image["url"], token=alice.token)
    assert refused.status == 404 and "location" not in refused.headers


def test_prune_uploads_removes_objects_from_the_bucket(s3_server, s3_env, moto, bucket, accounts, media_farm, room):
    alice = accounts.new()
    db = Db(media_farm)
    unused = up(s3_server, alice, room, name="a.png", data=png())
    used = up(s3_server, alice, room, name="b.png", data=png())
    attach(s3_server, alice, [used["id"]], room)
    unused_keys, used_keys = set(db.keys(unused["id"])), set(db.keys(used["id"]))
    assert unused_keys | used_keys <= keys(moto, bucket)
    db.age_uploads([unused["id"], used["id"]], hours=25)
    manage(media_farm, "prune_uploads", **s3_env)
    left = keys(moto, bucket)
    assert not unused_keys & left and used_keys <= left
    assert call(s3_server.http, "GET", unused["url"], token=alice.token).status == 404
    assert call(s3_server.http, "GET", used["url"], token=alice.token).status == 302


def test_a_range_through_the_presigned_url(s3_server, moto, bucket, accounts, room):
    alice = accounts.new()
    data = noise(2000)
    made = up(s3_server, alice, room, name="clip.bin", data=data)
    location = redirected(s3_server, made["url"], token=alice.token, headers={"Range": "bytes=100-199"})
    part = get_url(location, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == data[100:200]
