terraform {
  # 1.7: mock_provider/override_* in `terraform test`; preconditions and check blocks need less.
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7"
    }
  }
}
