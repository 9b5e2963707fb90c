"""Prepares the local AWS stand-ins: the table (from infra/table.json, the same definition
template.yaml declares) in DynamoDB Local, the verified SES sender in moto, and the secrets the
functions read at run time in moto's Secrets Manager, in the shapes docs/configuration.md (Secrets) gives.
Runs with the moto venv's python, which has boto3."""
import json, os, sys, time
import boto3

def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = json.load(open(os.path.join(root, "infra", "table.json")))
    ttl = spec.pop("TimeToLiveAttribute")
    table = os.environ["TABLE_NAME"]
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    if table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(TableName=table, **spec)
        ddb.get_waiter("table_exists").wait(TableName=table)
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})
    ses = boto3.client("ses", endpoint_url=os.environ["AWS_ENDPOINT_URL_SES"])
    ses.verify_email_identity(EmailAddress=os.environ["SENDER_EMAIL"])
    put_secrets(boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]))
    print(f"table {table} ready; sender {os.environ['SENDER_EMAIL']} verified; secrets in Secrets Manager")

def secrets():
    """Each secret's name (a *_SECRET setting) and value (from the copies in .local/env)."""
    e = os.environ
    return {
        e["TOKEN_KEYS_SECRET"]: json.dumps({"current": {"id": "local-1", "key": e["TOKEN_SIGNING_KEY"]}}),
        e["ALIYUN_SPI_KEY_SECRET"]: e["ALIYUN_SPI_KEY"],
        e["ALIYUN_MARKET_KEY_SECRET"]: json.dumps({"access_key_id": e["ALIYUN_ACCESS_KEY_ID"],
                                                   "access_key_secret": e["ALIYUN_ACCESS_KEY_SECRET"]}),
        e["HUAWEI_KOOGALLERY_KEY_SECRET"]: e["HUAWEI_KOOGALLERY_KEY"],
        e["KOOGALLERY_AK_SK_SECRET"]: json.dumps({"ak": e["KOOGALLERY_ACCESS_KEY"], "sk": e["KOOGALLERY_SECRET_KEY"]}),
    }

def put_secrets(sm):
    for name, value in secrets().items():
        try:
            sm.create_secret(Name=name, SecretString=value)
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=value)

if __name__ == "__main__":
    sys.exit(main())
