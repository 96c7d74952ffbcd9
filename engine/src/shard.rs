//! `--shard K/N`: a deterministic share of a run's tensors, balanced by estimated cost, so that
//! N machines (a Slurm array, a Kubernetes Indexed Job) can analyze one model set and
//! `weightlens merge` can put the parts back together.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Environment variables `--shard auto/N` reads the index from, in this order.
pub const INDEX_VARS: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// Largest number of shards (a guard against typos like `--shard 0/80000000`).
pub const MAX_SHARDS: usize = 65_536;

/// A shard specification that is not `K/N` with `0 <= K < N`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ShardError {
    /// Why, quoting the text.
    pub message: String,
}

/// Shard `index` (0-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based: `0 <= index < count`.
    pub index: usize,
    /// The number of shards.
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Parses `K/N` (0-based K) or `auto/N`, where K comes from the first set variable of
    /// [`INDEX_VARS`] as `var` reports them.
    pub fn parse(text: &str, var: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        Self::parse_text(text, var).map_err(|message| ShardError { message })
    }

    fn parse_text(text: &str, var: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let (k, n) = text.split_once('/').ok_or_else(|| format!("{text:?} is not K/N (e.g. 0/8 or auto/8)"))?;
        let count: usize = n.trim().parse().map_err(|_| format!("{n:?} is not a shard count"))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("the shard count must be between 1 and {MAX_SHARDS}, not {count}"));
        }
        let (index_text, from) = if k.trim() == "auto" {
            let found = INDEX_VARS.iter().find_map(|v| var(v).map(|value| (value, *v)));
            let (value, name) = found
                .ok_or_else(|| format!("--shard auto/{count} needs {} in the environment", INDEX_VARS.join(" or ")))?;
            (value, format!(" (from {name})"))
        } else {
            (k.to_string(), String::new())
        };
        let index: usize =
            index_text.trim().parse().map_err(|_| format!("{index_text:?}{from} is not a shard index"))?;
        if index >= count {
            return Err(format!(
                "shard index {index}{from} must be below the shard count {count} (indices are 0-based)"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// One task's balancing key: estimated cost, then model path and tensor name (and position)
/// so that equal costs are ordered the same way on every machine.
#[derive(Clone, Debug)]
pub struct TaskKey<'a> {
    /// Estimated work (any unit; the same for every task).
    pub cost: f64,
    /// The model's path.
    pub model: &'a str,
    /// The tensor's name.
    pub name: &'a str,
}

/// The shard of each task: tasks sorted by (cost descending, model, name, position) go one by
/// one to the least-loaded shard (the lowest index among equals). Deterministic for the same
/// tasks, whatever order they come in and whichever shard computes it.
pub fn assign(tasks: &[TaskKey<'_>], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&tasks[a], &tasks[b]);
        tb.cost.total_cmp(&ta.cost).then_with(|| (ta.model, ta.name, a).cmp(&(tb.model, tb.name, b)))
    });
    let mut loads = vec![0f64; count.max(1)];
    let mut shard_of = vec![0; tasks.len()];
    for t in order {
        let lightest = (0..loads.len()).min_by(|&a, &b| loads[a].total_cmp(&loads[b]).then(a.cmp(&b))).unwrap_or(0);
        // Even empty tensors count a little, so that they spread too.
        loads[lightest] += tasks[t].cost.max(1.0);
        shard_of[t] = lightest;
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn parses_and_validates() {
        assert_eq!(Shard::parse("0/8", env(&[])).ok(), Some(Shard { index: 0, count: 8 }));
        assert_eq!(Shard::parse("7/8", env(&[])).ok(), Some(Shard { index: 7, count: 8 }));
        for bad in ["8/8", "1/0", "x/2", "3", "-1/4", "0/99999999", "/"] {
            assert!(Shard::parse(bad, env(&[])).is_err(), "{bad}");
        }
        assert_eq!(
            Shard::parse("auto/4", env(&[("JOB_COMPLETION_INDEX", "2")])).ok(),
            Some(Shard { index: 2, count: 4 })
        );
        let both = [("JOB_COMPLETION_INDEX", "2"), ("SLURM_ARRAY_TASK_ID", "3")];
        assert_eq!(Shard::parse("auto/4", env(&both)).ok(), Some(Shard { index: 3, count: 4 }));
        let message = Shard::parse("auto/4", env(&[("SLURM_ARRAY_TASK_ID", "4")])).unwrap_err().to_string();
        assert!(message.contains("SLURM_ARRAY_TASK_ID"), "{message}");
        assert!(Shard::parse("auto/4", env(&[])).unwrap_err().to_string().contains("JOB_COMPLETION_INDEX"));
    }

    #[test]
    fn assignment_balances_and_ignores_input_order() {
        let names: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let tasks: Vec<TaskKey> = names
            .iter()
            .enumerate()
            .map(|(i, n)| TaskKey { cost: (i % 7) as f64 * 10.0, model: "m", name: n })
            .collect();
        let shards = assign(&tasks, 3);
        let mut loads = [0f64; 3];
        for (t, &s) in tasks.iter().zip(&shards) {
            loads[s] += t.cost.max(1.0);
        }
        let (lo, hi) = (loads.iter().cloned().fold(f64::MAX, f64::min), loads.iter().cloned().fold(0.0, f64::max));
        assert!(hi - lo <= 60.0, "greedy balance within the largest task: {loads:?}");
        let mut reversed = tasks.clone();
        reversed.reverse();
        let mut again = assign(&reversed, 3);
        again.reverse();
        assert_eq!(shards, again);
        assert_eq!(assign(&tasks, 1), vec![0; 20]);
    }
}
