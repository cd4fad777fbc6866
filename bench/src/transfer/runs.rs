//! The single timed runs of the transfer scenarios: `cp -r`, `rclone copy`
//! (into a folder or the S3 server), the in-process SHA-256, and one Ferry
//! upload on a fresh server.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Ctx, FerryRun, POLL};
use crate::docs::{self, Source};
use crate::report::{count, mib, secs};
use crate::server::{Backend, Server, State};
use crate::{say, tools, upload};

/// Where a Ferry run's tenant store is.
#[derive(Clone, Copy)]
pub enum Dest<'a> {
    /// `file://<data>/tenants/` of the run's own data folder.
    Local,
    /// The scenario's S3 server, under a prefix of the run's own.
    S3(&'a crate::s3::S3Server),
}

pub fn generate(ctx: &Ctx, name: &str, n: usize, size: u64) -> Result<Source> {
    let start = Instant::now();
    let src = docs::generate(&ctx.tmp, &format!("source-{name}"), n, size)?;
    say(
        ctx.t0,
        &format!(
            "({name}) generated {} × {} in {}",
            count(n),
            mib(size),
            secs(start.elapsed())
        ),
    );
    Ok(src)
}

/// `cp -r` of the export into a fresh folder; its time.
pub fn run_cp(ctx: &Ctx, src: &Source) -> Result<Duration> {
    let dst = ctx.tmp.join("dest-cp");
    let _ = std::fs::remove_dir_all(&dst);
    tools::sync()?;
    tools::warm_memory(src.total_bytes() + src.dump_bytes);
    let took = tools::timed(
        Command::new("cp").arg("-r").arg(&src.root).arg(&dst),
        "cp -r",
    )?;
    check_copy(&dst, src)?;
    tools::discard(&dst, src.docs.len(), &ctx.graveyard())?;
    say(ctx.t0, &format!("cp -r: {}", secs(took)));
    Ok(took)
}

/// `rclone copy` (its defaults: 4 transfers, 8 checkers, hash check
/// after each copy) into a fresh folder; its time.
pub fn run_rclone(ctx: &Ctx, src: &Source) -> Result<Duration> {
    let dst = ctx.tmp.join("dest-rclone");
    let _ = std::fs::remove_dir_all(&dst);
    tools::sync()?;
    tools::warm_memory(src.total_bytes() + src.dump_bytes);
    let took = tools::timed(
        Command::new(&ctx.rclone)
            .arg("copy")
            .arg(&src.root)
            .arg(&dst)
            .env("RCLONE_CONFIG", ctx.tmp.join("no-rclone.conf")),
        "rclone copy",
    )?;
    check_copy(&dst, src)?;
    tools::discard(&dst, src.docs.len(), &ctx.graveyard())?;
    say(ctx.t0, &format!("rclone copy: {}", secs(took)));
    Ok(took)
}

/// `rclone copy` of the export into the S3 server (its S3 backend, same
/// endpoint and credentials as Ferry); its time and the server's CPU time.
pub fn run_rclone_s3(
    ctx: &Ctx,
    src: &Source,
    s3: &crate::s3::S3Server,
) -> Result<(Duration, Duration)> {
    let prefix = format!("rclone-{}", uuid::Uuid::new_v4().simple());
    tools::sync()?;
    tools::warm_memory(src.total_bytes() + src.dump_bytes);
    let before = s3.cpu_time()?;
    let took = tools::timed(
        &mut s3.rclone(
            &ctx.rclone,
            &src.root,
            &prefix,
            &ctx.tmp.join("no-rclone.conf"),
        ),
        "rclone copy to S3",
    )?;
    let cpu = s3.cpu_time()?.saturating_sub(before);
    let dst = s3.folder(&prefix);
    check_copy(&dst, src)?;
    tools::discard(&dst, src.docs.len(), &ctx.graveyard())?;
    say(
        ctx.t0,
        &format!(
            "rclone copy → S3: {} (server CPU {})",
            secs(took),
            secs(cpu)
        ),
    );
    Ok((took, cpu))
}

/// The copy holds every byte of the export (documents + dump).
pub fn check_copy(dst: &Path, src: &Source) -> Result<()> {
    let (bytes, files) = tools::tree_bytes(dst)?;
    let want = src.total_bytes() + src.dump_bytes;
    if bytes != want || files != src.docs.len() + 1 {
        bail!(
            "{} holds {files} files / {bytes} B, expected {} / {want}",
            dst.display(),
            src.docs.len() + 1
        );
    }
    Ok(())
}

/// SHA-256 of every document with the `sha2` crate (as Ferry's worker
/// hashes), one after the other on one core, read from the page cache in
/// 1 MiB blocks: the floor hashing alone puts under a verified copy.
pub fn hash_in_process(ctx: &Ctx, src: &Source) -> Result<Duration> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    for d in &src.docs {
        let mut f = std::fs::File::open(src.documents_dir().join(&d.rel))?;
        let mut h = Sha256::new();
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        if format!("{:x}", h.finalize()) != d.sha256 {
            bail!("{} changed on disk", d.rel);
        }
    }
    let took = start.elapsed();
    say(ctx.t0, &format!("SHA-256 in process: {}", secs(took)));
    Ok(took)
}

pub async fn huge(ctx: &Ctx, src: &Source) -> Result<(FerryRun, Duration, Duration)> {
    tools::warm(&src.root)?;
    let cp = run_cp(ctx, src)?;
    let sha = hash_in_process(ctx, src)?;
    let ferry = run_ferry(ctx, src, Backend::Sqlite, Dest::Local).await?;
    Ok((ferry, cp, sha))
}

pub async fn run_ferry(
    ctx: &Ctx,
    src: &Source,
    backend: Backend,
    dest: Dest<'_>,
) -> Result<FerryRun> {
    let state = State::fresh(backend, &ctx.tmp, &ctx.services).await?;
    let run = run_ferry_in(ctx, src, backend, &state, dest).await;
    let removed = state.remove().await;
    let run = run?;
    removed.context("removing the run's database / namespace")?;
    Ok(run)
}

async fn run_ferry_in(
    ctx: &Ctx,
    src: &Source,
    backend: Backend,
    state: &State,
    dest: Dest<'_>,
) -> Result<FerryRun> {
    let key = format!("fry_bench_{}", uuid::Uuid::new_v4().simple());
    let log = ctx
        .tmp
        .join(format!("ferry-transfer-{backend:?}.log").to_lowercase());
    let prefix = format!("ferry-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, String)> = match dest {
        Dest::Local => Vec::new(),
        Dest::S3(s3) => s3.ferry_env(&prefix),
    };
    env.extend(ctx.env.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let server = Server::start_with(&ctx.bin, state, &env, &key, log).await?;
    let s3_cpu = match dest {
        Dest::S3(s3) => Some(s3.cpu_time()?),
        Dest::Local => None,
    };
    let with_log = |server: &Server| format!("server log (last lines):\n{}", server.log_tail(30));
    let id = upload::prepare(&server, src)
        .await
        .with_context(|| with_log(&server))?;
    let peak_before = server.peak_rss()?;
    tools::sync()?;
    tools::warm_memory(src.total_bytes() + src.dump_bytes);
    let start = Instant::now();
    let sent = chrono::Utc::now();
    let job_id = upload::start(&server, &id).await?;
    let (job, _) = upload::wait(&server, &job_id, POLL, ctx.timeout, || {})
        .await
        .with_context(|| with_log(&server))?;
    let polled = start.elapsed();
    let server_cpu = match (dest, s3_cpu) {
        (Dest::S3(s3), Some(before)) => Some(s3.cpu_time()?.saturating_sub(before)),
        _ => None,
    };
    // The API caches a job's view for `job_view_cache_ms` (250 ms), so a
    // poller learns of the end up to that late; the time that counts is the
    // start request → the job's own `finished_at` (same machine, same clock).
    let wall = upload::finished_since(&job, sent).unwrap_or(polled);
    if let Some(dir) = &ctx.log_dir {
        std::fs::create_dir_all(dir)?;
        let name = format!(
            "ferry-{}-{}.log",
            backend.label(),
            uuid::Uuid::new_v4().simple()
        );
        std::fs::copy(server.log_path(), dir.join(name))?;
    }
    let peak_after = server.peak_rss()?;
    upload::check_succeeded(&job, src).with_context(|| with_log(&server))?;
    let stored = match dest {
        Dest::Local => state.data_dir.join("tenants"),
        Dest::S3(s3) => s3.folder(&prefix),
    }
    .join(upload::TENANT);
    // The dump and the documents, byte for byte; beside them the upload
    // delivers the licences, the ledger and the receipt (issue 16), which
    // must be there but are not the copy being measured.
    let (db_bytes, db_files) = tools::tree_bytes(&stored.join("database"))?;
    let (doc_bytes, doc_files) = tools::tree_bytes(&stored.join("documents"))?;
    let (bytes, files) = (db_bytes + doc_bytes, db_files + doc_files);
    if !stored.join("MIGRATION.json").is_file() {
        bail!("the upload delivered no receipt (MIGRATION.json)");
    }
    if bytes != src.total_bytes() + src.dump_bytes || files != src.docs.len() + 1 {
        bail!(
            "the tenant store holds {files} files / {bytes} B, expected {} / {}",
            src.docs.len() + 1,
            src.total_bytes() + src.dump_bytes
        );
    }
    server.stop(Duration::from_secs(30))?;
    tools::discard(&stored, src.docs.len(), &ctx.graveyard())?;
    say(
        ctx.t0,
        &format!(
            "Ferry ({}): {} (queued {}, ran {}), peak RSS {} → {}",
            backend.label(),
            secs(wall),
            upload::between(&job, "created_at", "started_at").map_or("?".into(), secs),
            upload::server_side(&job).map_or("?".into(), secs),
            mib(peak_before),
            mib(peak_after)
        ),
    );
    Ok(FerryRun {
        wall,
        server_cpu,
        server_side: upload::server_side(&job),
        queued: upload::between(&job, "created_at", "started_at"),
        peak_before,
        peak_after,
    })
}
