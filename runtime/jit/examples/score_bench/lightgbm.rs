//! A LightGBM text model (`Booster.save_model`) read as a `TreeEnsemble`, so that every engine of
//! the scoring benchmark scores the same trees. Numerical splits only (`x <= threshold` left, as
//! LightGBM's `NumericalDecision`); single-output `binary` and `regression` objectives.
//!
//! Missing values: a split whose missing type is `NaN` sends NaN to its `default_left` side, as ours
//! does; one whose missing type is `None` reads NaN as 0.0, so NaN goes where 0.0 goes. The `Zero`
//! missing type (`zero_as_missing`) and categorical splits are refused. LightGBM folds its initial
//! score into the first tree's leaves, so the base score is 0 and the raw score is the sum of leaves
//! in tree order, as LightGBM and lleaves compute it.

use mlsys_train::{Task, Tree, TreeEnsemble, TreeNode};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line `{0}` is not `key=value`")]
    Line(String),
    #[error("`{key}` is missing{context}")]
    Missing { key: &'static str, context: String },
    #[error("`{key}` holds `{value}`, not a number")]
    Number { key: &'static str, value: String },
    #[error("objective `{0}` is not supported (binary or regression)")]
    Objective(String),
    #[error("tree {tree}: {message}")]
    Tree { tree: usize, message: &'static str },
}

/// The header's and each tree's `key=value` lines.
struct Section<'a> {
    name: String,
    entries: Vec<(&'a str, &'a str)>,
}

impl<'a> Section<'a> {
    fn get(&self, key: &'static str) -> Result<&'a str, ImportError> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
            .ok_or_else(|| ImportError::Missing {
                key,
                context: self.name.clone(),
            })
    }

    fn numbers<T: std::str::FromStr>(&self, key: &'static str) -> Result<Vec<T>, ImportError> {
        self.get(key)?
            .split_whitespace()
            .map(|value| {
                value.parse().map_err(|_| ImportError::Number {
                    key,
                    value: value.to_string(),
                })
            })
            .collect()
    }

    fn number<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, ImportError> {
        let mut values = self.numbers(key)?;
        match values.len() {
            1 => Ok(values.remove(0)),
            _ => Err(ImportError::Missing {
                key,
                context: format!("{} (one value)", self.name),
            }),
        }
    }
}

fn sections(text: &str) -> Result<Vec<Section<'_>>, ImportError> {
    let mut sections = vec![Section {
        name: String::new(),
        entries: Vec::new(),
    }];
    for line in text.lines().map(str::trim) {
        if line == "end of trees" {
            break;
        }
        if line.is_empty() || line == "tree" {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| ImportError::Line(line.to_string()))?;
        if key == "Tree" {
            sections.push(Section {
                name: format!(" in tree {value}"),
                entries: Vec::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            section.entries.push((key, value));
        }
    }
    Ok(sections)
}

/// Reads a LightGBM text model.
pub fn import(text: &str) -> Result<TreeEnsemble, ImportError> {
    let sections = sections(text)?;
    let (header, trees) = sections.split_first().ok_or(ImportError::Line(String::new()))?;
    let objective = header.get("objective")?;
    let task = match objective.split_whitespace().next() {
        Some("binary") => Task::Classification,
        Some("regression") => Task::Regression,
        _ => return Err(ImportError::Objective(objective.to_string())),
    };
    if header.number::<usize>("num_tree_per_iteration")? != 1 {
        return Err(ImportError::Objective(objective.to_string()));
    }
    let features = header.number::<usize>("max_feature_idx")? + 1;
    let mut feature_names: Vec<String> = header
        .get("feature_names")?
        .split_whitespace()
        .map(String::from)
        .collect();
    let named = feature_names.len();
    feature_names.extend((named..features).map(|index| format!("Column_{index}")));
    feature_names.truncate(features);
    let trees = trees
        .iter()
        .enumerate()
        .map(|(index, section)| import_tree(section, index))
        .collect::<Result<_, _>>()?;
    Ok(TreeEnsemble {
        task,
        feature_names,
        base_score: 0.0,
        trees,
    })
}

const CATEGORICAL: u8 = 1;
const DEFAULT_LEFT: u8 = 2;
const MISSING_TYPE_SHIFT: u8 = 2;
const MISSING_NONE: u8 = 0;
const MISSING_NAN: u8 = 2;

/// LightGBM numbers internal nodes `0..` and leaves `!child` (negative children); ours are one
/// array in breadth-first order. Children keep LightGBM's sides.
fn import_tree(section: &Section<'_>, tree: usize) -> Result<Tree, ImportError> {
    let error = |message| ImportError::Tree { tree, message };
    let leaves: Vec<f64> = section.numbers("leaf_value")?;
    if section.number::<usize>("num_leaves")? <= 1 {
        let value = *leaves.first().ok_or(error("no leaf"))?;
        return Ok(Tree {
            nodes: vec![TreeNode::Leaf { value }],
        });
    }
    if section.number::<usize>("num_cat")? != 0 {
        return Err(error("categorical splits are not supported"));
    }
    let split_feature: Vec<u32> = section.numbers("split_feature")?;
    let threshold: Vec<f64> = section.numbers("threshold")?;
    let decision_type: Vec<u8> = section.numbers("decision_type")?;
    let left_child: Vec<i64> = section.numbers("left_child")?;
    let right_child: Vec<i64> = section.numbers("right_child")?;
    let mut nodes = Vec::new();
    // (LightGBM reference, our index), in breadth-first order.
    let mut queue = std::collections::VecDeque::from([(0i64, 0usize)]);
    nodes.push(TreeNode::Leaf { value: 0.0 });
    while let Some((reference, index)) = queue.pop_front() {
        if reference < 0 {
            let leaf = usize::try_from(!reference).map_err(|_| error("bad leaf index"))?;
            let value = *leaves.get(leaf).ok_or(error("leaf out of range"))?;
            nodes[index] = TreeNode::Leaf { value };
            continue;
        }
        let split = usize::try_from(reference).map_err(|_| error("bad node index"))?;
        let (decision, threshold) = (at(split, tree, &decision_type)?, at(split, tree, &threshold)?);
        if decision & CATEGORICAL != 0 {
            return Err(error("categorical splits are not supported"));
        }
        let missing_goes_left = match (decision >> MISSING_TYPE_SHIFT) & 3 {
            MISSING_NAN => decision & DEFAULT_LEFT != 0,
            MISSING_NONE => 0.0 <= threshold,
            _ => return Err(error("zero-as-missing splits are not supported")),
        };
        if nodes.len() > 2 * leaves.len() {
            return Err(error("the children do not form a tree"));
        }
        let left = nodes.len();
        nodes.extend([TreeNode::Leaf { value: 0.0 }; 2]);
        nodes[index] = TreeNode::Split {
            feature: at(split, tree, &split_feature)?,
            threshold,
            missing_goes_left,
            left: left as u32,
            right: left as u32 + 1,
        };
        queue.extend([
            (at(split, tree, &left_child)?, left),
            (at(split, tree, &right_child)?, left + 1),
        ]);
    }
    Ok(Tree { nodes })
}

/// The value of split node `split` in one of a tree's per-node arrays.
fn at<T: Copy>(split: usize, tree: usize, values: &[T]) -> Result<T, ImportError> {
    values.get(split).copied().ok_or(ImportError::Tree {
        tree,
        message: "node out of range",
    })
}

/// The same ensemble with every threshold rounded down to a float32 value, which `Model::validate`
/// (and so the ONNX export) requires. It routes every float32-valued input exactly as the original
/// (`x <= t` and `x <= floor32(t)` agree when `x` is a float32 value) and finite, as the
/// benchmark's inputs are.
pub fn with_float32_thresholds(ensemble: &TreeEnsemble) -> TreeEnsemble {
    let mut rounded = ensemble.clone();
    for node in rounded.trees.iter_mut().flat_map(|tree| tree.nodes.iter_mut()) {
        if let TreeNode::Split { threshold, .. } = node {
            #[allow(clippy::cast_possible_truncation)]
            let mut single = *threshold as f32;
            // LightGBM writes `inf` for a split sending every number left; on finite inputs the
            // largest float32 does the same.
            if f64::from(single) > *threshold || single == f32::INFINITY {
                single = single.next_down();
            }
            *threshold = f64::from(single);
        }
    }
    rounded
}
