//! The SAM template (`infra/template.yaml`) as the tests read it: one function's block, and
//! the IAM actions its policies allow.

use std::collections::BTreeSet;

pub fn read() -> String {
    let path = local_stack::root().join("infra/template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The template's block of the function whose binary is `binary` (up to the next resource).
pub fn function_block(yaml: &str, binary: &str) -> String {
    let mut blocks: Vec<String> = Vec::new();
    for line in yaml.lines() {
        let starts = line.starts_with("  ") && line.chars().nth(2).is_some_and(|c| c.is_ascii_alphabetic());
        match blocks.last_mut() {
            Some(b) if !starts => {
                b.push_str(line);
                b.push('\n');
            }
            _ => blocks.push(format!("{line}\n")),
        }
    }
    let found: Vec<&String> = blocks
        .iter()
        .filter(|b| {
            b.contains("Type: AWS::Serverless::Function") && b.contains(&format!("Binary: {binary}\n"))
        })
        .collect();
    assert_eq!(found.len(), 1, "one function of binary {binary} in the template");
    found[0].clone()
}

/// `dynamodb:GetItem`, `sqs:SendMessage`, … : every action an `Allow` statement of the block's
/// policies lists (the template writes each as `- service:Action`).
pub fn allowed_actions(block: &str) -> BTreeSet<String> {
    let Some(policies) = block.split("\n      Policies:\n").nth(1) else { return BTreeSet::new() };
    policies
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("- "))
        .filter(|a| {
            a.split_once(':').is_some_and(|(service, action)| {
                !service.is_empty()
                    && service.chars().all(|c| c.is_ascii_lowercase())
                    && action.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            })
        })
        .map(str::to_string)
        .collect()
}
