//! Shared start-up for the Lambda functions.
