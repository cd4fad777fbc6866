pub mod health;
pub mod jobs;
pub mod keys;
pub mod migrations;
