"""Pages the simulator with boto3, an implementation of the Snowball protocols
independent of ours, and prints every job as one JSON line.

usage: outside_client.py ENDPOINT REGION PROTOCOL PAGE_SIZE
PROTOCOL is `json` (awsJson1_1, what the AWS CLI and older boto3 speak) or
`cbor` (Smithy RPC v2 CBOR, what current botocore prefers for Snowball).

usage: outside_client.py describe ENDPOINT REGION PROTOCOL JOB_ID...
describes each job and prints one JSON line per job: the fields a test
compares with what the Rust SDK gets.

usage: outside_client.py organization ENDPOINT REGION ROLE_NAME
lists the organization's accounts (Organizations ListAccounts, paged), then,
for each ACTIVE one, assumes ROLE_NAME there with STS (awsQuery) and lists
its jobs; prints one JSON line per account, then one per job with its account.

usage: outside_client.py usage ENDPOINT REGION PROTOCOL
asks GetSnowballUsage and prints {"limit": ..., "in_use": ...}.

usage: outside_client.py estate ENDPOINT REGION PROTOCOL
lists the clusters (ListClusters, two a page), describes each and lists its
jobs (DescribeCluster, ListClusterJobs), then lists the long-term pricing
terms (ListLongTermPricing, two a page); prints one JSON line per cluster,
then per term.

usage: outside_client.py identity ENDPOINT REGION [PROFILE]
asks STS GetCallerIdentity with the credentials boto3 resolves from the
environment and the shared files (with PROFILE as Session(profile_name=...),
what `aws --profile` does) and prints {"account": ...}.
"""

import json
import sys

import boto3
import botocore.model


CREDENTIALS = dict(aws_access_key_id="AKIDOUTSIDECLIENT", aws_secret_access_key="outside-secret")


def list_jobs(client, page_size):
    kwargs = {"MaxResults": page_size}
    seen = set()
    while True:
        page = client.list_jobs(**kwargs)
        yield from page.get("JobListEntries", [])
        token = page.get("NextToken")
        if not token:
            return
        if token in seen:
            sys.exit("the service repeated a NextToken")
        seen.add(token)
        kwargs["NextToken"] = token


def organization(endpoint, region, role_name):
    orgs = boto3.client("organizations", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
    own = sts.get_caller_identity()["Account"]
    accounts = [a for page in orgs.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    for account in accounts:
        print(json.dumps({"account": account["Id"], "state": account.get("State", account.get("Status"))}, sort_keys=True))
    for account in accounts:
        if account.get("State", account.get("Status")) != "ACTIVE":
            continue
        if account["Id"] == own:
            keys = CREDENTIALS
        else:
            arn = f"arn:aws:iam::{account['Id']}:role/{role_name}"
            assumed = sts.assume_role(RoleArn=arn, RoleSessionName="snowball-sync")["Credentials"]
            keys = dict(aws_access_key_id=assumed["AccessKeyId"],
                        aws_secret_access_key=assumed["SecretAccessKey"],
                        aws_session_token=assumed["SessionToken"])
        client = boto3.client("snowball", endpoint_url=endpoint, region_name=region, **keys)
        for entry in list_jobs(client, 100):
            print(json.dumps({"account": account["Id"], "job_id": entry["JobId"],
                              "job_state": entry["JobState"]}, sort_keys=True))


def projection(metadata, parts):
    shipping = metadata.get("ShippingDetails", {})
    created = metadata.get("CreationDate")
    leg = lambda name: {k: shipping.get(name, {}).get(k) for k in ("Status", "TrackingNumber")}
    return {
        "job_id": metadata["JobId"],
        "job_state": metadata.get("JobState"),
        "job_type": metadata.get("JobType"),
        "snowball_type": metadata.get("SnowballType"),
        "creation_date": int(created.timestamp()) if created else None,
        "description": metadata.get("Description"),
        "kms_key_arn": metadata.get("KmsKeyARN"),
        "role_arn": metadata.get("RoleARN"),
        "address_id": metadata.get("AddressId"),
        "capacity": metadata.get("SnowballCapacityPreference"),
        "snowball_id": metadata.get("SnowballId"),
        "shipping_option": shipping.get("ShippingOption"),
        "outbound": leg("OutboundShipment"),
        "inbound": leg("InboundShipment"),
        "transfer": metadata.get("DataTransferProgress"),
        "buckets": [r.get("BucketArn") for r in metadata.get("Resources", {}).get("S3Resources", [])],
        "has_job_logs": "JobLogInfo" in metadata,
        "parts": [p["JobId"] for p in parts],
    }


def describe(endpoint, region, protocol, job_ids):
    if protocol == "json":
        botocore.model.ServiceModel.resolved_protocol = property(lambda self: "json")
    client = boto3.client("snowball", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
    for job_id in job_ids:
        answer = client.describe_job(JobId=job_id)
        print(json.dumps(projection(answer["JobMetadata"], answer.get("SubJobMetadata", [])), sort_keys=True))


def usage(endpoint, region, protocol):
    if protocol == "json":
        botocore.model.ServiceModel.resolved_protocol = property(lambda self: "json")
    client = boto3.client("snowball", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
    answer = client.get_snowball_usage()
    print(json.dumps({"limit": answer.get("SnowballLimit"), "in_use": answer.get("SnowballsInUse")}))


def pages(call, key, **kwargs):
    seen = set()
    while True:
        page = call(MaxResults=2, **kwargs)
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token or token in seen:
            return
        seen.add(token)
        kwargs["NextToken"] = token


def seconds(value):
    return int(value.timestamp()) if value else None


def estate(endpoint, region, protocol):
    if protocol == "json":
        botocore.model.ServiceModel.resolved_protocol = property(lambda self: "json")
    client = boto3.client("snowball", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
    for entry in pages(client.list_clusters, "ClusterListEntries"):
        cluster_id = entry["ClusterId"]
        metadata = client.describe_cluster(ClusterId=cluster_id)["ClusterMetadata"]
        jobs = pages(client.list_cluster_jobs, "JobListEntries", ClusterId=cluster_id)
        print(json.dumps({
            "cluster_id": cluster_id,
            "state": entry["ClusterState"],
            "creation_date": seconds(entry.get("CreationDate")),
            "description": entry.get("Description"),
            "job_type": metadata.get("JobType"),
            "snowball_type": metadata.get("SnowballType"),
            "members": sorted(j["JobId"] for j in jobs),
        }))
    for term in pages(client.list_long_term_pricing, "LongTermPricingEntries"):
        print(json.dumps({
            "id": term["LongTermPricingId"],
            "type": term.get("LongTermPricingType"),
            "start": seconds(term.get("LongTermPricingStartDate")),
            "end": seconds(term.get("LongTermPricingEndDate")),
            "auto_renew": term.get("IsLongTermPricingAutoRenew"),
            "status": term.get("LongTermPricingStatus"),
            "snowball_type": term.get("SnowballType"),
            "current_active_job": term.get("CurrentActiveJob"),
            "replacement_job": term.get("ReplacementJob"),
            "job_ids": term.get("JobIds", []),
        }))


def identity(endpoint, region, profile=None):
    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    sts = session.client("sts", endpoint_url=endpoint, region_name=region)
    print(json.dumps({"account": sts.get_caller_identity()["Account"]}))


def main():
    if sys.argv[1] == "identity":
        identity(*sys.argv[2:])
        return
    if sys.argv[1] == "usage":
        usage(*sys.argv[2:5])
        return
    if sys.argv[1] == "estate":
        estate(*sys.argv[2:5])
        return
    if sys.argv[1] == "describe":
        describe(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
        return
    if sys.argv[1] == "organization":
        organization(*sys.argv[2:5])
        return
    endpoint, region, protocol, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if protocol == "json":
        # botocore picks the first protocol of the model it supports; make that awsJson1_1.
        botocore.model.ServiceModel.resolved_protocol = property(lambda self: "json")
    client = boto3.client("snowball", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
    for entry in list_jobs(client, page_size):
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


if __name__ == "__main__":
    main()
