//! `classroom`: a GitHub Classroom autograding workflow, one command-grader
//! step per assigned exercise, as GitHub Classroom's own template writes
//! them (classroom-resources/autograding-command-grader and
//! autograding-grading-reporter).

use std::fmt::Write;

use exercise_checks::Exercise;

/// An exercise's points when every check passes: its checks' and clippy's.
pub fn max_score(exercise: &Exercise) -> u32 {
    exercise
        .checks
        .iter()
        .map(|check| check.points)
        .sum::<u32>()
        + 1
}

pub fn workflow(exercises: &[&'static Exercise]) -> String {
    let mut out = String::from(
        "# GitHub Classroom autograding for the sockets course, written by\n\
         # `cargo xtask exercise classroom`: each step grades one exercise with\n\
         # `cargo xtask exercise grade`, worth the exercise's points when all of\n\
         # its checks pass; its JUnit report is kept as an artifact.\n\
         name: Autograding Tests\n\
         'on':\n\
         - push\n\
         - repository_dispatch\n\
         permissions:\n  checks: write\n  actions: read\n  contents: read\n\
         jobs:\n\
         \x20 run-autograding-tests:\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   if: github.actor != 'github-classroom[bot]'\n\
         \x20   steps:\n\
         \x20   - name: Checkout code\n\
         \x20     uses: actions/checkout@v4\n\
         \x20   - name: Fetch the course's crates\n\
         \x20     run: cargo fetch --locked\n",
    );
    for exercise in exercises {
        let _ = write!(
            out,
            "    - name: {id} {name}\n\
             \x20     id: {name}\n\
             \x20     uses: classroom-resources/autograding-command-grader@v1\n\
             \x20     with:\n\
             \x20       test-name: {id} {name}\n\
             \x20       command: cargo xtask exercise grade {id} --student \"${{{{ github.actor }}}}\" --format junit > grade-{id}.xml\n\
             \x20       timeout: 10\n\
             \x20       max-score: {score}\n",
            id = exercise.id,
            name = exercise.name,
            score = max_score(exercise)
        );
    }
    out.push_str(
        "    - name: Keep the JUnit reports\n\
         \x20     if: always()\n\
         \x20     uses: actions/upload-artifact@v4\n\
         \x20     with:\n\
         \x20       name: grades\n\
         \x20       path: grade-*.xml\n\
         \x20   - name: Autograding Reporter\n\
         \x20     uses: classroom-resources/autograding-grading-reporter@v1\n\
         \x20     env:\n",
    );
    for exercise in exercises {
        let _ = writeln!(
            out,
            "        {}_RESULTS: \"${{{{steps.{}.outputs.result}}}}\"",
            exercise.name.to_uppercase(),
            exercise.name
        );
    }
    let runners: Vec<&str> = exercises.iter().map(|exercise| exercise.name).collect();
    let _ = writeln!(out, "      with:\n        runners: {}", runners.join(","));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use exercise_checks::EXERCISES;
    use xtask_support::workspace::workspace_root;

    /// The value of `key: value` lines under the line that names a step.
    fn steps(workflow: &str) -> Vec<Vec<(String, String)>> {
        let mut steps: Vec<Vec<(String, String)>> = Vec::new();
        for line in workflow.lines() {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("- name: ") {
                if line.starts_with("    - ") {
                    steps.push(vec![("name".to_string(), rest.to_string())]);
                }
                continue;
            }
            if let (Some(step), Some((key, value))) = (steps.last_mut(), trimmed.split_once(": ")) {
                step.push((key.to_string(), value.to_string()));
            }
        }
        steps
    }

    fn value<'a>(step: &'a [(String, String)], key: &str) -> Option<&'a str> {
        step.iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn the_shipped_workflow_grades_every_exercise_for_its_points() {
        let path = workspace_root().join("classroom/autograding.yml");
        let shipped = std::fs::read_to_string(&path).unwrap();
        let all: Vec<&'static Exercise> = EXERCISES.iter().collect();
        assert_eq!(
            shipped,
            workflow(&all),
            "{} is stale: `cargo xtask exercise classroom > classroom/autograding.yml`",
            path.display()
        );
        assert!(!shipped.contains('\t'), "YAML takes no tabs");

        let steps = steps(&shipped);
        let graders: Vec<_> = steps
            .iter()
            .filter(|step| {
                value(step, "uses") == Some("classroom-resources/autograding-command-grader@v1")
            })
            .collect();
        assert_eq!(graders.len(), EXERCISES.len());
        for (step, exercise) in graders.iter().zip(EXERCISES) {
            let command = value(step, "command").unwrap();
            let words: Vec<&str> = command.split_whitespace().collect();
            assert_eq!(&words[..4], ["cargo", "xtask", "exercise", "grade"]);
            assert_eq!(exercise_checks::find(words[4]).unwrap().id, exercise.id);
            assert!(command.contains("--format junit > grade-"), "{command}");
            let score: u32 = value(step, "max-score").unwrap().parse().unwrap();
            assert_eq!(score, max_score(exercise));
            assert_eq!(value(step, "id"), Some(exercise.name));
        }
        let reporter = steps
            .iter()
            .find(|step| value(step, "name") == Some("Autograding Reporter"))
            .unwrap();
        let runners: Vec<&str> = value(reporter, "runners").unwrap().split(',').collect();
        let names: Vec<&str> = EXERCISES.iter().map(|exercise| exercise.name).collect();
        assert_eq!(runners, names);
        for name in names {
            let results = format!("{}_RESULTS", name.to_uppercase());
            assert_eq!(
                value(reporter, &results),
                Some(format!("\"${{{{steps.{name}.outputs.result}}}}\"").as_str())
            );
        }
        // Grading builds offline: the crates are fetched first.
        let fetch = steps
            .iter()
            .position(|step| value(step, "run") == Some("cargo fetch --locked"))
            .unwrap();
        let first = steps.iter().position(|step| graders[0] == step).unwrap();
        assert!(fetch < first);
    }
}
