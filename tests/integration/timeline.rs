//! Every build writes its timeline; `serpent report --trace` exports it for Perfetto and names
//! the critical path; `--message-format json` streams the build's events; progress counts an
//! instance's time from when it took its job slot and shows its last build's time.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::test::Test;

/// A recipe that needs `deps` and spends CPU time in real commands when `work` is true.
fn recipe(name: &str, deps: &[&str], work: bool) -> String {
    let deps: Vec<String> = deps.iter().map(|dep| format!("\"{dep}\"")).collect();
    let command = if work {
        "head -c 40000000 /dev/urandom | sha256sum > sum"
    } else {
        "echo quick > sum"
    };
    format!(
        r#"const NAME = "{name}";
const VERSION = "1";
const DEPENDS = [{}];
fn setup(ctx) {{
    ctx.shell("echo configuring {name}");
}}
fn build(ctx) {{
    ctx.shell("{command}");
}}
fn install(ctx) {{
    ctx.shell("mkdir -p $D/share && cp sum $D/share/{name}.sum", #{{ env: #{{ D: ctx.destdir }} }});
}}
"#,
        deps.join(", ")
    )
}

/// a -> b -> top, and x -> top, where a and b do real work and x does next to none.
fn graph() -> Test {
    Test::new()
        .file("recipes/stage1/a.rhai", recipe("a", &[], true))
        .file("recipes/stage1/b.rhai", recipe("b", &["a"], true))
        .file("recipes/stage1/x.rhai", recipe("x", &[], false))
        .file("recipes/stage1/top.rhai", recipe("top", &["b", "x"], false))
}

fn run_top(test: Test, extra: &[&str]) -> Test {
    let mut args = vec!["run", "recipes/stage1/top.rhai", "--target", "x86_64"];
    args.extend(extra);
    test.args(args)
}

#[test]
fn the_trace_has_each_phase_on_its_job_slot_and_names_the_critical_path() {
    let mut test = run_top(graph(), &["-j2"]);
    test.run();
    let trace = test.dir.path().join("trace.json");
    test = test
        .args(["report", "--trace", trace.to_str().unwrap()])
        .stdout_contains("run 1 of 1: 4 instance(s) built on 2 job slot(s)")
        .stdout_contains("job slots busy");
    let summary = test.run().stdout;
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let spans: Vec<&Value> = document["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["ph"] == "X")
        .collect();
    for name in ["a", "b", "x", "top"] {
        for phase in ["sources", "setup", "build", "install", "merge"] {
            let event = format!("x86_64/stage1/{name} {phase}");
            let count = spans.iter().filter(|span| span["name"] == event).count();
            assert_eq!(count, 1, "{event} in {document:#}");
        }
    }
    let mut lanes: BTreeMap<(i64, i64), Vec<(i64, i64)>> = BTreeMap::new();
    for span in &spans {
        let lane = (span["pid"].as_i64().unwrap(), span["tid"].as_i64().unwrap());
        assert!((1..=2).contains(&lane.1), "-j2 has two job slots: {span}");
        let start = span["ts"].as_i64().unwrap();
        lanes
            .entry(lane)
            .or_default()
            .push((start, start + span["dur"].as_i64().unwrap()));
    }
    for (lane, mut steps) in lanes {
        steps.sort();
        for pair in steps.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "steps overlap on {lane:?}: {pair:?}"
            );
        }
    }
    let path: Vec<&str> = summary
        .lines()
        .skip_while(|line| !line.contains("critical path"))
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        path,
        ["x86_64/stage1/a", "x86_64/stage1/b", "x86_64/stage1/top"],
        "{summary}"
    );

    // A second run appends to the same timeline, as its own process in the trace.
    test = run_top(
        test.file(
            "recipes/stage1/x.rhai",
            recipe("x", &[], false).replace("quick", "changed"),
        ),
        &["-j2"],
    );
    test.run();
    test = test
        .args(["report", "--trace", trace.to_str().unwrap()])
        .stdout_contains("run 2 of 2: 2 instance(s) built");
    test.run();
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(document["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|event| event["pid"] == 2 && event["name"] == "x86_64/stage1/x build"));
}

#[test]
fn json_messages_name_the_failed_log_and_what_was_skipped() {
    let failing =
        recipe("b", &["a"], false).replace("echo quick > sum", "echo about to fail; exit 3");
    let test = graph().file("recipes/stage1/b.rhai", failing);
    // With JSON messages the progress lines are not printed.
    let mut test = run_top(test, &["-j2", "--keep-going", "--message-format", "json"])
        .status(1)
        .stderr_lacks("] x86_64/stage1/a: built in");
    let output = test.run();
    let events: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let of = |reason: &str, name: &str| {
        events
            .iter()
            .find(|event| {
                event["reason"] == reason && event["id"] == format!("x86_64/stage1/{name}")
            })
            .unwrap_or_else(|| panic!("no {reason} of {name} in {}", output.stdout))
    };
    let failed = of("failed", "b");
    assert_eq!(failed["phase"], "build");
    let log = Path::new(failed["log"].as_str().unwrap());
    assert!(
        std::fs::read_to_string(log)
            .unwrap()
            .contains("about to fail"),
        "{failed}"
    );
    of("finished", "a");
    of("finished", "x");
    of("phase", "a");
    of("started", "x");
    of("skipped", "top");
    let last = events.last().unwrap();
    assert_eq!(last["reason"], "build-finished");
    assert_eq!(
        (last["success"].clone(), last["built"].clone()),
        (Value::Bool(false), 2.into())
    );
    assert_eq!(
        (last["failed"].clone(), last["skipped"].clone()),
        (1.into(), 1.into())
    );

    // `build` streams the same events; what was built already is up to date.
    test = test
        .args([
            "build",
            "--target",
            "x86_64",
            "-k",
            "--message-format",
            "json",
        ])
        .status(1);
    let stdout = test.run().stdout;
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let reason_of = |name: &str| {
        let id = format!("x86_64/stage1/{name}");
        let event = events.iter().find(|event| event["id"] == id);
        event.map(|event| (event["reason"].clone(), event["fresh"].clone()))
    };
    let fresh = Some(("up-to-date".into(), Value::Bool(true)));
    assert_eq!(reason_of("a"), fresh, "{stdout}");
    assert_eq!(reason_of("x"), fresh, "{stdout}");
    assert_eq!(reason_of("b").unwrap().0, "started", "{stdout}");
    assert!(
        events.iter().any(|event| event["reason"] == "failed"),
        "{stdout}"
    );
}

/// `[n/m] <id>: built in <seconds>s` lines, by id.
fn built_in(stderr: &str) -> BTreeMap<String, f64> {
    stderr
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("] ")?;
            let (id, seconds) = rest.split_once(": built in ")?;
            Some((id.to_string(), seconds.trim_end_matches('s').parse().ok()?))
        })
        .collect()
}

#[test]
fn the_time_of_a_build_that_waited_for_a_slot_leaves_the_wait_out() {
    let mut test = Test::new()
        .file("recipes/stage1/p.rhai", recipe("p", &[], true))
        .file("recipes/stage1/q.rhai", recipe("q", &[], true))
        .file(
            "recipes/stage1/both.rhai",
            recipe("both", &["p", "q"], false),
        )
        .args([
            "run",
            "recipes/stage1/both.rhai",
            "--target",
            "x86_64",
            "-j1",
        ]);
    let printed = built_in(&test.run().stderr);
    let records = test.work().join("x86_64/stage1/records");
    for name in ["p", "q"] {
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(records.join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let recorded = record["seconds"].as_f64().unwrap();
        let shown = printed[&format!("x86_64/stage1/{name}")];
        // Both measure the build from its slot on; the shown one ends after the merge.
        assert!(
            (shown - recorded).abs() <= 0.25,
            "{name}: shown {shown} s, recorded {recorded} s"
        );
    }
}

/// q needs p: after p changes, both are built again, each with a record of its last build.
#[test]
fn a_rebuild_shows_the_last_build_time_and_the_time_left() {
    let mut test = Test::new()
        .file("recipes/stage1/p.rhai", recipe("p", &[], false))
        .file("recipes/stage1/q.rhai", recipe("q", &["p"], false))
        .args(["run", "recipes/stage1/q.rhai", "--target", "x86_64"])
        .stderr_lacks("its last build took")
        .stderr_lacks(" left");
    test.run();
    test = test
        .file(
            "recipes/stage1/p.rhai",
            recipe("p", &[], false).replace("quick", "changed"),
        )
        .args(["run", "recipes/stage1/q.rhai", "--target", "x86_64"])
        .stderr_contains("x86_64/stage1/p 1: started, its last build took ");
    let stderr = test.run().stderr;
    let finished = stderr
        .lines()
        .find(|line| line.contains("] x86_64/stage1/p: built in "))
        .unwrap_or_else(|| panic!("{stderr}"));
    // What is left is q, whose last build took a moment.
    let count = finished.split_once(']').unwrap().0;
    assert!(
        count.starts_with("[1/2, about ") && count.ends_with(" s left"),
        "{stderr}"
    );
}

/// A failed build removes the record; the timeline still has the last build that succeeded.
#[test]
fn after_a_failed_build_the_timeline_gives_the_last_build_time() {
    let run_p = ["run", "recipes/stage1/p.rhai", "--target", "x86_64"];
    let mut test = Test::new()
        .file("recipes/stage1/p.rhai", recipe("p", &[], false))
        .args(run_p);
    test.run();
    let failing = recipe("p", &[], false).replace("echo quick > sum", "exit 1");
    test = test
        .file("recipes/stage1/p.rhai", failing)
        .args(run_p)
        .status(1);
    test.run();
    assert!(!test.work().join("x86_64/stage1/records/p.json").exists());
    test = test
        .file(
            "recipes/stage1/p.rhai",
            recipe("p", &[], false).replace("quick", "fixed"),
        )
        .args(run_p)
        .stderr_contains("x86_64/stage1/p 1: started, its last build took ");
    test.run();
}
