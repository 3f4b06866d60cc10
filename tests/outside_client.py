"""Pages the simulator with boto3, an implementation of the Snowball protocols
independent of ours, and prints every job as one JSON line.

usage: outside_client.py ENDPOINT REGION PROTOCOL PAGE_SIZE
PROTOCOL is `json` (awsJson1_1, what the AWS CLI and older boto3 speak) or
`cbor` (Smithy RPC v2 CBOR, what current botocore prefers for Snowball).
"""

import json
import sys

import boto3
import botocore.model


def main():
    endpoint, region, protocol, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if protocol == "json":
        # botocore picks the first protocol of the model it supports; make that awsJson1_1.
        botocore.model.ServiceModel.resolved_protocol = property(lambda self: "json")
    client = boto3.client(
        "snowball",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="AKIDOUTSIDECLIENT",
        aws_secret_access_key="outside-secret",
    )
    kwargs = {"MaxResults": page_size}
    seen = set()
    while True:
        page = client.list_jobs(**kwargs)
        for entry in page.get("JobListEntries", []):
            created = entry.get("CreationDate")
            print(json.dumps({
                "job_id": entry["JobId"],
                "job_state": entry["JobState"],
                "job_type": entry.get("JobType"),
                "snowball_type": entry.get("SnowballType"),
                "is_master": entry.get("IsMaster", False),
                "creation_date": int(created.timestamp()) if created else None,
                "description": entry.get("Description"),
            }, sort_keys=True))
        token = page.get("NextToken")
        if not token:
            break
        if token in seen:
            sys.exit("the service repeated a NextToken")
        seen.add(token)
        kwargs["NextToken"] = token


if __name__ == "__main__":
    main()
