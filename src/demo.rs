//! `demo`: the real sync, run several times against an in-process simulator,
//! then a look at what it recorded.

use std::io::Write;

use crate::config::DemoConfig;
use crate::error::Error;

pub async fn run(_config: &DemoConfig, _out: &mut (dyn Write + Send)) -> Result<(), Error> {
    Err(Error::Usage("demo is not built yet".into()))
}
