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
/// policies lists (the template writes each as `- service:Action`). A DynamoDB action is also
/// listed with the part of the table it is allowed on: `dynamodb:GetItem@table`,
/// `dynamodb:Query@index/GSI1`.
pub fn allowed_actions(block: &str) -> BTreeSet<String> {
    let Some(policies) = block.split("\n      Policies:\n").nth(1) else { return BTreeSet::new() };
    let mut allowed = BTreeSet::new();
    let mut statements: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut in_resources = false;
    for line in policies.lines().map(str::trim) {
        if line.starts_with("- Effect:") || line.starts_with("Effect:") {
            statements.push((Vec::new(), Vec::new()));
            in_resources = false;
        } else if line == "Action:" {
            in_resources = false;
        } else if line == "Resource:" {
            in_resources = true;
        } else if let (Some(item), Some((actions, resources))) =
            (line.strip_prefix("- "), statements.last_mut())
        {
            match in_resources {
                true => resources.push(item.to_string()),
                false if is_action(item) => actions.push(item.to_string()),
                false => {}
            }
        }
    }
    for (actions, resources) in statements {
        for action in actions {
            if action.starts_with("dynamodb:") {
                for r in &resources {
                    if r == "!GetAtt Table.Arn" {
                        allowed.insert(format!("{action}@table"));
                    } else if let Some(index) = r.split("${Table.Arn}/").nth(1) {
                        allowed.insert(format!("{action}@{}", index.trim_end_matches('"')));
                    }
                }
            }
            allowed.insert(action);
        }
    }
    allowed
}

fn is_action(item: &str) -> bool {
    item.split_once(':').is_some_and(|(service, action)| {
        !service.is_empty()
            && service.chars().all(|c| c.is_ascii_lowercase())
            && action.chars().next().is_some_and(|c| c.is_ascii_uppercase())
    })
}
