terraform {
  # No provider: the module only computes policy statements.
  required_version = ">= 1.7.0"
}
