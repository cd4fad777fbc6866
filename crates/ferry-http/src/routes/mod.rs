pub mod assignments;
pub mod documents;
pub mod health;
pub mod jobs;
pub mod keys;
pub mod licensing;
pub mod migrations;
pub mod review;
