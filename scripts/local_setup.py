"""Prepares the local AWS stand-ins: the table (from infra/table.json, the same definition
template.yaml declares) in DynamoDB Local, and the verified SES sender in moto.
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
    print(f"table {table} ready; sender {os.environ['SENDER_EMAIL']} verified")

if __name__ == "__main__":
    sys.exit(main())
