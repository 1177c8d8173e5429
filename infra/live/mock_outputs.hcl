# Stand-in outputs of each component for `init`, `validate` and `plan` before it exists: the
# `mock_outputs` of every `dependency` block in _envcommon/, keyed by the component's folder. Obviously
# fake (account 000000000000, mock-* names); tests/test_infra_live.py checks each key is a real output
# of the component's module. Plain values only: read with read_terragrunt_config from any folder.
locals {
  allowed_commands = ["init", "validate", "plan"]

  kms = {
    key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000"
    key_id  = "00000000-0000-0000-0000-000000000000"
  }

  vpc = {
    vpc_id             = "vpc-00000000000000000"
    vpc_cidr_block     = "10.0.0.0/16"
    private_subnet_ids = ["subnet-00000000000000000", "subnet-00000000000000001"]
    public_subnet_ids  = ["subnet-00000000000000002", "subnet-00000000000000003"]
  }

  athena = {
    workgroup_name      = "mock-workgroup"
    workgroup_arn       = "arn:aws:athena:us-east-1:000000000000:workgroup/mock-workgroup"
    marts_database_name = "mock_marts"
  }

  s3 = {
    bucket_name = "mock-bucket"
    bucket_arn  = "arn:aws:s3:::mock-bucket"
  }

  ecr = {
    repository_urls = {
      lambda    = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/lambda"
      ingest    = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/ingest"
      dagster   = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/dagster"
      inference = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/inference"
    }
    repository_arns = {
      lambda    = "arn:aws:ecr:us-east-1:000000000000:repository/mock/lambda"
      ingest    = "arn:aws:ecr:us-east-1:000000000000:repository/mock/ingest"
      dagster   = "arn:aws:ecr:us-east-1:000000000000:repository/mock/dagster"
      inference = "arn:aws:ecr:us-east-1:000000000000:repository/mock/inference"
    }
  }

  kinesis_untagged = {
    stream_name = "mock-untagged"
    stream_arn  = "arn:aws:kinesis:us-east-1:000000000000:stream/mock-untagged"
  }

  kinesis_tagged = {
    stream_name = "mock-tagged"
    stream_arn  = "arn:aws:kinesis:us-east-1:000000000000:stream/mock-tagged"
  }

  dynamodb = {
    table_name = "mock-table"
    table_arn  = "arn:aws:dynamodb:us-east-1:000000000000:table/mock-table"
  }

  glue = {
    database_name        = "mock_db"
    raw_table_name       = "posts"
    compacted_table_name = "posts_compacted"
    database_arn         = "arn:aws:glue:us-east-1:000000000000:database/mock_db"
    raw_table_arn        = "arn:aws:glue:us-east-1:000000000000:table/mock_db/posts"
    compacted_table_arn  = "arn:aws:glue:us-east-1:000000000000:table/mock_db/posts_compacted"
  }

  sagemaker_text = {
    endpoint_name = "mock-text"
    endpoint_arn  = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/mock-text"
  }

  sagemaker_media = {
    endpoint_name = "mock-media"
    endpoint_arn  = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/mock-media"
  }

  lambda = {
    function_name      = "mock-scoring"
    function_arn       = "arn:aws:lambda:us-east-1:000000000000:function:mock-scoring"
    failure_queue_name = "mock-failures"
    failure_queue_arn  = "arn:aws:sqs:us-east-1:000000000000:mock-failures"
  }

  dagster = {
    cluster_name         = "mock-dagster"
    webserver_host       = "webserver.mock.local"
    code_server_host     = "code.mock.local"
    db_address           = "mock-db.000000000000.us-east-1.rds.amazonaws.com"
    db_name              = "mock"
    db_username          = "mock"
    db_secret_arn        = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mock-db-000000"
    db_security_group_id = "sg-00000000000000000"
  }

  cloudwatch = {
    dashboard_name  = "mock-dashboard"
    alarm_topic_arn = "arn:aws:sns:us-east-1:000000000000:mock-alarms"
  }
}
