//! FORMULA fields: the expression language, parsed and type-checked once when a field is
//! defined, then evaluated with exact decimals for every row written.
//!
//! `+ - * /`, parentheses, numeric literals, comparisons (`< <= > >= = !=`), `and or not`,
//! `true false`, text in single or double quotes, the row's other fields by key, and the
//! functions `min max round(x, places) abs if(cond, a, b) coalesce factor("key")`.
//! A missing input makes the result null (`coalesce` says otherwise); dividing by zero
//! is an error of the row.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::LazyLock;

use bigdecimal::{BigDecimal, RoundingMode, Zero};
use serde_json::Value;

use super::model::FieldType;

/// Longest formula, in characters.
pub const MAX_FORMULA_CHARS: usize = 1_000;
/// Decimal places a division (and a stored result) keeps, rounding half to even.
pub const RESULT_SCALE: i64 = 20;
/// Deepest nesting of parentheses and calls.
const MAX_DEPTH: usize = 64;

/// Why a formula was refused, at which character (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormulaError {
    pub position: usize,
    pub message: String,
}

impl FormulaError {
    fn at(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FormulaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

/// What an expression computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Number,
    Bool,
    Text,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Number => "a number",
            Self::Bool => "yes/no",
            Self::Text => "text",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Min,
    Max,
    Round,
    Abs,
    If,
    Coalesce,
    Factor,
}

impl Function {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "min" => Self::Min,
            "max" => Self::Max,
            "round" => Self::Round,
            "abs" => Self::Abs,
            "if" => Self::If,
            "coalesce" => Self::Coalesce,
            "factor" => Self::Factor,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number(BigDecimal),
    Text(String),
    Bool(bool),
    Field(String),
    Negate(Box<Expr>),
    Not(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
}

/// A parsed expression, each part knowing where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    position: usize,
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(String),
    Text(String),
    Name(String),
    Symbol(&'static str),
    End,
}

fn tokens(source: &str) -> Result<Vec<(usize, Token)>, FormulaError> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let begin = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push((start, Token::Number(chars[begin..i].iter().collect())));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let begin = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start, Token::Name(chars[begin..i].iter().collect())));
        } else if c == '"' || c == '\'' {
            let close = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or_else(|| FormulaError::at(start, "this text is never closed"))?;
            out.push((start, Token::Text(chars[i + 1..i + 1 + close].iter().collect())));
            i += close + 2;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = ["<=", ">=", "!=", "<>", "=="]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["+", "-", "*", "/", "(", ")", ",", "<", ">", "="]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                })
                .ok_or_else(|| {
                    FormulaError::at(start, format!("'{c}' is not part of the formula language"))
                })?;
            i += symbol.len();
            out.push((start, Token::Symbol(symbol)));
        }
    }
    out.push((chars.len() + 1, Token::End));
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &(usize, Token) {
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> (usize, Token) {
        let token = self.peek().clone();
        self.next += 1;
        token
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        if matches!(&self.peek().1, Token::Symbol(s) if *s == symbol) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> Option<usize> {
        match self.peek() {
            (position, Token::Name(name)) if name.eq_ignore_ascii_case(word) => {
                let position = *position;
                self.next += 1;
                Some(position)
            }
            _ => None,
        }
    }

    fn expect_symbol(&mut self, symbol: &str, what: &str) -> Result<(), FormulaError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(FormulaError::at(self.peek().0, format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.and()?;
        while let Some(position) = self.eat_word("or") {
            let right = self.and()?;
            left = binary(position, Op::Or, left, right);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.not()?;
        while let Some(position) = self.eat_word("and") {
            let right = self.not()?;
            left = binary(position, Op::And, left, right);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, FormulaError> {
        if let Some(position) = self.eat_word("not") {
            let inner = self.nested(Self::not)?;
            return Ok(Expr {
                position,
                node: Node::Not(Box::new(inner)),
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, FormulaError> {
        let left = self.sum()?;
        let (position, token) = self.peek().clone();
        let op = match token {
            Token::Symbol("<") => Op::Lt,
            Token::Symbol("<=") => Op::Le,
            Token::Symbol(">") => Op::Gt,
            Token::Symbol(">=") => Op::Ge,
            Token::Symbol("=" | "==") => Op::Eq,
            Token::Symbol("!=" | "<>") => Op::Ne,
            _ => return Ok(left),
        };
        self.next += 1;
        let right = self.sum()?;
        Ok(binary(position, op, left, right))
    }

    fn sum(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.product()?;
        loop {
            let position = self.peek().0;
            let op = if self.eat_symbol("+") {
                Op::Add
            } else if self.eat_symbol("-") {
                Op::Sub
            } else {
                return Ok(left);
            };
            let right = self.product()?;
            left = binary(position, op, left, right);
        }
    }

    fn product(&mut self) -> Result<Expr, FormulaError> {
        let mut left = self.unary()?;
        loop {
            let position = self.peek().0;
            let op = if self.eat_symbol("*") {
                Op::Mul
            } else if self.eat_symbol("/") {
                Op::Div
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = binary(position, op, left, right);
        }
    }

    fn unary(&mut self) -> Result<Expr, FormulaError> {
        let position = self.peek().0;
        if self.eat_symbol("-") {
            let inner = self.nested(Self::unary)?;
            return Ok(Expr {
                position,
                node: Node::Negate(Box::new(inner)),
            });
        }
        self.primary()
    }

    fn nested(&mut self, rule: fn(&mut Self) -> Result<Expr, FormulaError>) -> Result<Expr, FormulaError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FormulaError::at(self.peek().0, "the formula nests too deeply"));
        }
        let result = rule(self);
        self.depth -= 1;
        result
    }

    fn primary(&mut self) -> Result<Expr, FormulaError> {
        let (position, token) = self.advance();
        let node = match token {
            Token::Number(text) => Node::Number(
                BigDecimal::from_str(&text)
                    .map_err(|_| FormulaError::at(position, format!("{text} is not a number")))?,
            ),
            Token::Text(text) => Node::Text(text),
            Token::Symbol("(") => {
                let inner = self.nested(Self::or)?;
                self.expect_symbol(")", "a closing parenthesis")?;
                return Ok(inner);
            }
            Token::Name(name) if self.eat_symbol("(") => {
                let function = Function::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
                    FormulaError::at(
                        position,
                        format!("{name} is not a function (there are min, max, round, abs, if, coalesce and factor)"),
                    )
                })?;
                let mut arguments = Vec::new();
                if !self.eat_symbol(")") {
                    loop {
                        arguments.push(self.nested(Self::or)?);
                        if self.eat_symbol(")") {
                            break;
                        }
                        self.expect_symbol(",", "a comma or a closing parenthesis")?;
                    }
                }
                Node::Call(function, arguments)
            }
            Token::Name(name) if name.eq_ignore_ascii_case("true") => Node::Bool(true),
            Token::Name(name) if name.eq_ignore_ascii_case("false") => Node::Bool(false),
            Token::Name(name) => Node::Field(name),
            Token::End => return Err(FormulaError::at(position, "the formula ends too soon")),
            Token::Symbol(symbol) => {
                return Err(FormulaError::at(position, format!("unexpected '{symbol}'")));
            }
        };
        Ok(Expr { position, node })
    }
}

fn binary(position: usize, op: Op, left: Expr, right: Expr) -> Expr {
    Expr {
        position,
        node: Node::Binary(op, Box::new(left), Box::new(right)),
    }
}

/// Parses a formula's text.
pub fn parse(source: &str) -> Result<Expr, FormulaError> {
    if source.chars().count() > MAX_FORMULA_CHARS {
        return Err(FormulaError::at(
            MAX_FORMULA_CHARS + 1,
            format!("a formula has at most {MAX_FORMULA_CHARS} characters"),
        ));
    }
    let mut parser = Parser {
        tokens: tokens(source)?,
        next: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.peek() {
        (_, Token::End) => Ok(expr),
        (position, _) => Err(FormulaError::at(*position, "expected an operator or the end")),
    }
}

impl Expr {
    /// The fields it reads, by key.
    pub fn fields(&self) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        self.visit(&mut |node| {
            if let Node::Field(key) = node {
                found.insert(key.clone());
            }
        });
        found
    }

    /// The factor keys it reads.
    pub fn factor_keys(&self) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        self.visit(&mut |node| {
            if let Node::Call(Function::Factor, arguments) = node
                && let [
                    Expr {
                        node: Node::Text(key),
                        ..
                    },
                ] = arguments.as_slice()
            {
                found.insert(key.clone());
            }
        });
        found
    }

    /// Each product of a field and a factor (`litres * factor("diesel_litre")`, either
    /// way round) with where it is: the field's unit must be what the factor is per.
    pub fn field_factor_products(&self) -> Vec<(usize, String, String)> {
        let mut found = Vec::new();
        self.visit_expr(&mut |expr| {
            if let Node::Binary(Op::Mul, left, right) = &expr.node {
                for (one, other) in [(left, right), (right, left)] {
                    if let (Node::Field(field), Node::Call(Function::Factor, _)) = (&one.node, &other.node)
                        && let Some(factor) = other.factor_keys().into_iter().next()
                    {
                        found.push((expr.position, field.clone(), factor));
                    }
                }
            }
        });
        found
    }

    /// Where the expression first reads `key` (1 when it does not).
    fn position_of_field(&self, key: &str) -> usize {
        let mut found = None;
        self.visit_expr(&mut |expr| {
            if found.is_none() && matches!(&expr.node, Node::Field(k) if k == key) {
                found = Some(expr.position);
            }
        });
        found.unwrap_or(1)
    }

    fn visit_expr(&self, see: &mut impl FnMut(&Expr)) {
        see(self);
        match &self.node {
            Node::Negate(inner) | Node::Not(inner) => inner.visit_expr(see),
            Node::Binary(_, left, right) => {
                left.visit_expr(see);
                right.visit_expr(see);
            }
            Node::Call(_, arguments) => arguments.iter().for_each(|a| a.visit_expr(see)),
            Node::Number(_) | Node::Text(_) | Node::Bool(_) | Node::Field(_) => {}
        }
    }

    fn visit(&self, see: &mut impl FnMut(&Node)) {
        self.visit_expr(&mut |expr| see(&expr.node));
    }

    /// What the expression computes, given what each field holds (Err for a field key the
    /// table lacks or of a type formulas cannot read), or where it mixes kinds.
    pub fn kind(&self, field: &impl Fn(&str) -> Result<Kind, String>) -> Result<Kind, FormulaError> {
        let at = |message: String| FormulaError::at(self.position, message);
        let expect = |expr: &Expr, want: Kind, what: &str| -> Result<(), FormulaError> {
            let got = expr.kind(field)?;
            if got == want {
                Ok(())
            } else {
                Err(FormulaError::at(
                    expr.position,
                    format!("{what} must be {}, not {}", want.name(), got.name()),
                ))
            }
        };
        match &self.node {
            Node::Number(_) => Ok(Kind::Number),
            Node::Text(_) => Ok(Kind::Text),
            Node::Bool(_) => Ok(Kind::Bool),
            Node::Field(key) => field(key).map_err(at),
            Node::Negate(inner) => expect(inner, Kind::Number, "what '-' negates").map(|()| Kind::Number),
            Node::Not(inner) => expect(inner, Kind::Bool, "what 'not' negates").map(|()| Kind::Bool),
            Node::Binary(op, left, right) => match op {
                Op::Add | Op::Sub | Op::Mul | Op::Div => {
                    expect(left, Kind::Number, "arithmetic")?;
                    expect(right, Kind::Number, "arithmetic")?;
                    Ok(Kind::Number)
                }
                Op::And | Op::Or => {
                    expect(left, Kind::Bool, "'and' and 'or'")?;
                    expect(right, Kind::Bool, "'and' and 'or'")?;
                    Ok(Kind::Bool)
                }
                Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let kind = left.kind(field)?;
                    if kind == Kind::Bool && !matches!(op, Op::Eq | Op::Ne) {
                        return Err(at("yes/no values are compared with = and != only".to_owned()));
                    }
                    expect(right, kind, "both sides of a comparison")?;
                    Ok(Kind::Bool)
                }
            },
            Node::Call(function, arguments) => call_kind(self.position, *function, arguments, field),
        }
    }
}

fn call_kind(
    position: usize,
    function: Function,
    arguments: &[Expr],
    field: &impl Fn(&str) -> Result<Kind, String>,
) -> Result<Kind, FormulaError> {
    let count = |range: std::ops::RangeInclusive<usize>, usage: &str| {
        if range.contains(&arguments.len()) {
            Ok(())
        } else {
            Err(FormulaError::at(position, format!("use it as {usage}")))
        }
    };
    let numbers = |arguments: &[Expr]| {
        arguments.iter().try_for_each(|a| match a.kind(field)? {
            Kind::Number => Ok(()),
            other => Err(FormulaError::at(
                a.position,
                format!("this must be a number, not {}", other.name()),
            )),
        })
    };
    match function {
        Function::Min | Function::Max => {
            count(1..=64, "min(a, b, …) or max(a, b, …)")?;
            numbers(arguments)?;
            Ok(Kind::Number)
        }
        Function::Abs => {
            count(1..=1, "abs(x)")?;
            numbers(arguments)?;
            Ok(Kind::Number)
        }
        Function::Round => {
            count(
                1..=2,
                "round(x) or round(x, places) with places a whole number from 0 to 20",
            )?;
            numbers(&arguments[..1])?;
            if let Some(places) = arguments.get(1)
                && round_places(places).is_none()
            {
                return Err(FormulaError::at(
                    places.position,
                    "places must be a whole number from 0 to 20, written out",
                ));
            }
            Ok(Kind::Number)
        }
        Function::If => {
            count(3..=3, "if(condition, then, otherwise)")?;
            match arguments[0].kind(field)? {
                Kind::Bool => {}
                other => {
                    return Err(FormulaError::at(
                        arguments[0].position,
                        format!("the condition must be yes/no, not {}", other.name()),
                    ));
                }
            }
            same_kind(&arguments[1..], field)
        }
        Function::Coalesce => {
            count(1..=64, "coalesce(a, b, …)")?;
            same_kind(arguments, field)
        }
        Function::Factor => match arguments {
            [
                Expr {
                    node: Node::Text(key),
                    ..
                },
            ] if !key.is_empty() => Ok(Kind::Number),
            _ => Err(FormulaError::at(
                position,
                "use it as factor(\"key\"), with the key written out in quotes",
            )),
        },
    }
}

fn same_kind(
    arguments: &[Expr],
    field: &impl Fn(&str) -> Result<Kind, String>,
) -> Result<Kind, FormulaError> {
    let first = arguments[0].kind(field)?;
    for other in &arguments[1..] {
        let kind = other.kind(field)?;
        if kind != first {
            return Err(FormulaError::at(
                other.position,
                format!(
                    "this is {}, but the first choice is {}",
                    kind.name(),
                    first.name()
                ),
            ));
        }
    }
    Ok(first)
}

fn round_places(expr: &Expr) -> Option<i64> {
    match &expr.node {
        Node::Number(n) if n.is_integer() => n.to_string().parse().ok().filter(|p| (0..=20).contains(p)),
        _ => None,
    }
}

/// What a field of this type holds as a formula input (None: formulas cannot read it).
pub fn input_kind(field_type: FieldType) -> Option<Kind> {
    field_kind(field_type).ok()
}

/// What a field holds as a formula input; Err says why formulas cannot read it.
fn field_kind(field_type: FieldType) -> Result<Kind, String> {
    match field_type {
        FieldType::Integer | FieldType::Decimal => Ok(Kind::Number),
        FieldType::Boolean => Ok(Kind::Bool),
        FieldType::Text | FieldType::Email | FieldType::Url | FieldType::SingleSelect | FieldType::Date => {
            Ok(Kind::Text)
        }
        other => Err(format!(
            "is a {} field: formulas read numbers, yes/no, text, single selects and dates",
            other.as_str()
        )),
    }
}

/// A table's formula fields in the order to compute them: key, expression, what it computes.
pub type Plan = Vec<(String, Expr, Kind)>;

/// One field of a table as the formula check sees it.
pub struct FieldOutline<'a> {
    pub key: &'a str,
    pub field_type: FieldType,
    pub formula: Option<&'a str>,
}

/// The table's formula fields in the order to compute them (each after those it reads),
/// with what each computes; or the first formula that fails — unparsable, reading a field
/// the table lacks or cannot read, mixing kinds, or depending on itself through other
/// formulas — by its key.
pub fn plan(fields: &[FieldOutline<'_>]) -> Result<Plan, (String, FormulaError)> {
    let mut parsed: HashMap<&str, Expr> = HashMap::new();
    for field in fields {
        if let (FieldType::Formula, Some(source)) = (field.field_type, field.formula) {
            let expr = parse(source).map_err(|e| (field.key.to_owned(), e))?;
            parsed.insert(field.key, expr);
        }
    }
    let types: HashMap<&str, FieldType> = fields.iter().map(|f| (f.key, f.field_type)).collect();
    let mut planner = Planner {
        parsed: &parsed,
        types: &types,
        kinds: HashMap::new(),
        visiting: Vec::new(),
        order: Vec::new(),
    };
    for field in fields {
        if parsed.contains_key(field.key) {
            planner.visit(field.key)?;
        }
    }
    Ok(planner.order)
}

struct Planner<'a> {
    parsed: &'a HashMap<&'a str, Expr>,
    types: &'a HashMap<&'a str, FieldType>,
    kinds: HashMap<String, Kind>,
    /// Formulas being planned, outermost first: meeting one again is a cycle.
    visiting: Vec<String>,
    order: Plan,
}

impl Planner<'_> {
    fn visit(&mut self, key: &str) -> Result<Kind, (String, FormulaError)> {
        if let Some(kind) = self.kinds.get(key) {
            return Ok(*kind);
        }
        let Some(expr) = self.parsed.get(key) else {
            return Err((key.to_owned(), FormulaError::at(1, "is not a formula")));
        };
        self.visiting.push(key.to_owned());
        // The kinds of the formulas it reads, planned first.
        let mut read = HashMap::new();
        for used in expr.fields() {
            if let Some(start) = self.visiting.iter().position(|k| *k == used) {
                let path = self.visiting[start..].join(" → ");
                let position = expr.position_of_field(&used);
                return Err((
                    self.visiting[start].clone(),
                    FormulaError::at(position, format!("depends on itself: {path} → {used}")),
                ));
            }
            if self.parsed.contains_key(used.as_str()) {
                read.insert(used.clone(), self.visit(&used)?);
            }
        }
        let types = self.types;
        let kind = expr
            .kind(&|field: &str| match read.get(field) {
                Some(kind) => Ok(*kind),
                None => match types.get(field) {
                    Some(field_type) => field_kind(*field_type).map_err(|why| format!("{field} {why}")),
                    None => Err(format!("{field} is not a field of this table")),
                },
            })
            .map_err(|e| (key.to_owned(), e))?;
        if kind == Kind::Text {
            return Err((
                key.to_owned(),
                FormulaError::at(1, "a formula computes a number or yes/no, not text"),
            ));
        }
        self.visiting.pop();
        self.kinds.insert(key.to_owned(), kind);
        self.order.push((key.to_owned(), expr.clone(), kind));
        Ok(kind)
    }
}

/// Most digits a stored result has before the point.
pub const MAX_RESULT_DIGITS: usize = 40;

/// The smallest number with more digits than that.
static TOO_LARGE: LazyLock<BigDecimal> = LazyLock::new(|| {
    BigDecimal::from_str(&format!("1{}", "0".repeat(MAX_RESULT_DIGITS))).unwrap_or_default()
});

/// A value while evaluating.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Number(BigDecimal),
    Bool(bool),
    Text(String),
}

impl Val {
    /// A stored row value read as a formula input of `kind`.
    pub fn from_cell(value: &Value, kind: Kind) -> Self {
        match (value, kind) {
            (Value::Number(n), Kind::Number) => {
                BigDecimal::from_str(&n.to_string()).map_or(Self::Null, Self::Number)
            }
            (Value::String(s), Kind::Number) => BigDecimal::from_str(s).map_or(Self::Null, Self::Number),
            (Value::Bool(b), Kind::Bool) => Self::Bool(*b),
            (Value::String(s), Kind::Text) => Self::Text(s.clone()),
            _ => Self::Null,
        }
    }

    /// Whether a number has more digits before the point than a row stores.
    pub fn is_too_large(&self) -> bool {
        match self {
            Self::Number(n) => n.abs() >= *TOO_LARGE,
            _ => false,
        }
    }

    /// The result as stored in the row: numbers as exact decimal strings.
    pub fn into_cell(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Number(n) => Value::String(
                n.with_scale_round(RESULT_SCALE, RoundingMode::HalfEven)
                    .normalized()
                    .to_plain_string(),
            ),
            Self::Bool(b) => Value::Bool(b),
            Self::Text(s) => Value::String(s),
        }
    }
}

/// What an evaluation reads: the row's values (already as formula inputs) and factors.
pub trait Inputs {
    /// The value of a field of the row.
    fn field(&self, key: &str) -> Val;
    /// The value of the factor in effect for the row; None when no version is.
    fn factor(&self, key: &str) -> Option<BigDecimal>;
}

/// Values of fields by key, with factors from a lookup: the usual [`Inputs`].
pub struct RowInputs<'a, F: Fn(&str) -> Option<BigDecimal>> {
    pub values: &'a HashMap<String, Val>,
    pub factor: F,
}

impl<F: Fn(&str) -> Option<BigDecimal>> Inputs for RowInputs<'_, F> {
    fn field(&self, key: &str) -> Val {
        self.values.get(key).cloned().unwrap_or(Val::Null)
    }

    fn factor(&self, key: &str) -> Option<BigDecimal> {
        (self.factor)(key)
    }
}

impl Expr {
    /// Evaluates a checked expression; Err only for what no input can excuse (division by
    /// zero, a factor with no version in effect).
    pub fn evaluate(&self, inputs: &impl Inputs) -> Result<Val, String> {
        Ok(match &self.node {
            Node::Number(n) => Val::Number(n.clone()),
            Node::Text(s) => Val::Text(s.clone()),
            Node::Bool(b) => Val::Bool(*b),
            Node::Field(key) => inputs.field(key),
            Node::Negate(inner) => match inner.evaluate(inputs)? {
                Val::Number(n) => Val::Number(-n),
                _ => Val::Null,
            },
            Node::Not(inner) => match inner.evaluate(inputs)? {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Null,
            },
            Node::Binary(op, left, right) => {
                let left = left.evaluate(inputs)?;
                // Three-valued logic: false and x is false, true or x is true, whatever x.
                match (op, &left) {
                    (Op::And, Val::Bool(false)) => return Ok(Val::Bool(false)),
                    (Op::Or, Val::Bool(true)) => return Ok(Val::Bool(true)),
                    _ => {}
                }
                operate(*op, left, right.evaluate(inputs)?)?
            }
            Node::Call(function, arguments) => self.call(*function, arguments, inputs)?,
        })
    }

    fn call(&self, function: Function, arguments: &[Expr], inputs: &impl Inputs) -> Result<Val, String> {
        let number = |expr: &Expr| -> Result<Option<BigDecimal>, String> {
            Ok(match expr.evaluate(inputs)? {
                Val::Number(n) => Some(n),
                _ => None,
            })
        };
        Ok(match function {
            Function::Min | Function::Max => {
                let mut best: Option<BigDecimal> = None;
                for argument in arguments {
                    let Some(n) = number(argument)? else {
                        return Ok(Val::Null);
                    };
                    best = Some(match best {
                        Some(b) if (function == Function::Min) == (b <= n) => b,
                        _ => n,
                    });
                }
                best.map_or(Val::Null, Val::Number)
            }
            Function::Abs => number(&arguments[0])?.map_or(Val::Null, |n| Val::Number(n.abs())),
            Function::Round => {
                let places = arguments.get(1).and_then(round_places).unwrap_or(0);
                number(&arguments[0])?.map_or(Val::Null, |n| {
                    Val::Number(n.with_scale_round(places, RoundingMode::HalfUp))
                })
            }
            Function::If => match arguments[0].evaluate(inputs)? {
                Val::Bool(true) => arguments[1].evaluate(inputs)?,
                Val::Bool(false) => arguments[2].evaluate(inputs)?,
                _ => Val::Null,
            },
            Function::Coalesce => {
                for argument in arguments {
                    let value = argument.evaluate(inputs)?;
                    if value != Val::Null {
                        return Ok(value);
                    }
                }
                Val::Null
            }
            Function::Factor => {
                let key = self.factor_keys().into_iter().next().unwrap_or_default();
                let value = inputs.factor(&key).ok_or_else(|| {
                    format!("no version of the emission factor {key} is in effect on the row's date")
                })?;
                Val::Number(value)
            }
        })
    }
}

fn operate(op: Op, left: Val, right: Val) -> Result<Val, String> {
    use std::cmp::Ordering;
    let ordering = |wanted: fn(Ordering) -> bool| match (&left, &right) {
        (Val::Number(a), Val::Number(b)) => Val::Bool(wanted(a.cmp(b))),
        (Val::Text(a), Val::Text(b)) => Val::Bool(wanted(a.cmp(b))),
        (Val::Bool(a), Val::Bool(b)) => Val::Bool(wanted(a.cmp(b))),
        _ => Val::Null,
    };
    Ok(match op {
        Op::Lt => ordering(|o| o == Ordering::Less),
        Op::Le => ordering(|o| o != Ordering::Greater),
        Op::Gt => ordering(|o| o == Ordering::Greater),
        Op::Ge => ordering(|o| o != Ordering::Less),
        Op::Eq => ordering(|o| o == Ordering::Equal),
        Op::Ne => ordering(|o| o != Ordering::Equal),
        Op::And | Op::Or => match (left, right) {
            (Val::Bool(a), Val::Bool(b)) => Val::Bool(if op == Op::And { a && b } else { a || b }),
            // The short cuts above decided what a null side can decide.
            (_, Val::Bool(false)) if op == Op::And => Val::Bool(false),
            (_, Val::Bool(true)) if op == Op::Or => Val::Bool(true),
            _ => Val::Null,
        },
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            let (Val::Number(a), Val::Number(b)) = (left, right) else {
                return Ok(Val::Null);
            };
            Val::Number(match op {
                Op::Add => a + b,
                Op::Sub => a - b,
                Op::Mul => a * b,
                _ if b.is_zero() => return Err("divides by zero".to_owned()),
                _ => (a / b).with_scale_round(RESULT_SCALE, RoundingMode::HalfEven),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(key: &str) -> Result<Kind, String> {
        match key {
            "litres" | "price" | "km" => Ok(Kind::Number),
            "fuel" | "day" => Ok(Kind::Text),
            "estimated" => Ok(Kind::Bool),
            other => Err(format!("{other} is not a field of this table")),
        }
    }

    fn run(source: &str, values: &[(&str, Val)]) -> Result<Value, String> {
        let expr = parse(source).map_err(|e| e.to_string())?;
        expr.kind(&kinds).map_err(|e| e.to_string())?;
        let values: HashMap<String, Val> = values.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let inputs = RowInputs {
            values: &values,
            factor: |key: &str| (key == "diesel_litre").then(|| BigDecimal::from_str("2.57082").unwrap()),
        };
        expr.evaluate(&inputs).map(Val::into_cell)
    }

    fn num(text: &str) -> Val {
        Val::Number(BigDecimal::from_str(text).unwrap())
    }

    fn error(source: &str) -> FormulaError {
        let expr = parse(source);
        match expr {
            Err(e) => e,
            Ok(expr) => expr.kind(&kinds).expect_err("refused"),
        }
    }

    #[test]
    fn precedence_and_exact_decimals() {
        assert_eq!(run("1 + 2 * 3", &[]), Ok(Value::from("7")));
        assert_eq!(run("(1 + 2) * 3", &[]), Ok(Value::from("9")));
        assert_eq!(run("10 - 4 - 3", &[]), Ok(Value::from("3")));
        assert_eq!(run("-2 * -3", &[]), Ok(Value::from("6")));
        assert_eq!(run("0.1 + 0.2", &[]), Ok(Value::from("0.3")));
        assert_eq!(run("1 / 3", &[]), Ok(Value::from("0.33333333333333333333")));
        assert_eq!(run("2 / 3", &[]), Ok(Value::from("0.66666666666666666667")));
        assert_eq!(
            run("litres * factor(\"diesel_litre\")", &[("litres", num("1250.5"))]),
            Ok(Value::from("3214.81041"))
        );
        assert_eq!(run("round(2.345, 2)", &[]), Ok(Value::from("2.35")));
        assert_eq!(run("round(2.5)", &[]), Ok(Value::from("3")));
        assert_eq!(
            run("abs(-4.5) + min(3, 1, 2) + max(3, 1, 2)", &[]),
            Ok(Value::from("8.5"))
        );
        assert_eq!(run("1 < 2 and not (2 < 1) or false", &[]), Ok(Value::Bool(true)));
    }

    #[test]
    fn missing_inputs_give_null_unless_the_formula_says_otherwise() {
        assert_eq!(run("litres * 2", &[]), Ok(Value::Null));
        assert_eq!(run("coalesce(litres, 0) * 2", &[]), Ok(Value::from("0")));
        assert_eq!(run("if(litres > 100, 1, 0)", &[]), Ok(Value::Null));
        assert_eq!(
            run(
                "if(fuel = 'diesel', 1, 0)",
                &[("fuel", Val::Text("diesel".into()))]
            ),
            Ok(Value::from("1"))
        );
        assert_eq!(run("estimated and false", &[]), Ok(Value::Bool(false)));
        assert_eq!(run("min(litres, 2)", &[]), Ok(Value::Null));
        assert_eq!(
            run("litres / 0", &[("litres", num("1"))]),
            Err("divides by zero".to_owned())
        );
        assert!(
            run("factor('petrol_litre')", &[])
                .unwrap_err()
                .contains("petrol_litre")
        );
    }

    #[test]
    fn every_error_names_its_position() {
        let cases = [
            ("litres *", 9, "ends too soon"),
            ("litres * (2 + 3", 16, "closing parenthesis"),
            ("litres $ 2", 8, "not part of the formula language"),
            ("litres 2", 8, "expected an operator"),
            ("sqrt(litres)", 1, "not a function"),
            ("litres * volume", 10, "volume is not a field"),
            ("litres + fuel", 10, "arithmetic must be a number, not text"),
            ("if(litres, 1, 2)", 4, "condition must be yes/no"),
            ("if(estimated, 1, 'x')", 18, "first choice is a number"),
            ("round(litres, places)", 15, "places must be a whole number"),
            ("factor(fuel)", 1, "factor(\"key\")"),
            ("'unclosed", 1, "never closed"),
            ("litres > fuel", 10, "both sides of a comparison must be a number"),
        ];
        for (source, position, message) in cases {
            let error = error(source);
            assert_eq!(error.position, position, "{source}: {error}");
            assert!(error.message.contains(message), "{source}: {error}");
        }
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(error(&deep).message.contains("nests too deeply"));
        assert!(error(&"1+".repeat(600)).message.contains("at most 1000"));
    }

    #[test]
    fn a_table_plans_its_formulas_in_dependency_order_and_refuses_cycles() {
        let outline = |key, field_type, formula| FieldOutline {
            key,
            field_type,
            formula,
        };
        let fields = [
            outline("total", FieldType::Formula, Some("co2e * 2")),
            outline("litres", FieldType::Decimal, None),
            outline(
                "co2e",
                FieldType::Formula,
                Some("litres * factor('diesel_litre')"),
            ),
            outline("big", FieldType::Formula, Some("total > 100")),
        ];
        let order: Vec<(String, Kind)> = plan(&fields)
            .unwrap()
            .into_iter()
            .map(|(key, _, kind)| (key, kind))
            .collect();
        assert_eq!(
            order,
            [
                ("co2e".into(), Kind::Number),
                ("total".into(), Kind::Number),
                ("big".into(), Kind::Bool)
            ]
        );
        let cycle = [
            outline("a", FieldType::Formula, Some("b + 1")),
            outline("b", FieldType::Formula, Some("1 + c")),
            outline("c", FieldType::Formula, Some("a")),
        ];
        let (key, error) = plan(&cycle).unwrap_err();
        assert_eq!(key, "a");
        assert_eq!(error.message, "depends on itself: a → b → c → a");
        let (_, error) = plan(&[outline("self", FieldType::Formula, Some("2 * self"))]).unwrap_err();
        assert_eq!(error.position, 5);
        let unreadable = [
            outline("tags", FieldType::MultiSelect, None),
            outline("n", FieldType::Formula, Some("tags + 1")),
        ];
        assert!(
            plan(&unreadable)
                .unwrap_err()
                .1
                .message
                .contains("tags is a multi_select field")
        );
        let text = [
            outline("fuel", FieldType::Text, None),
            outline("f", FieldType::Formula, Some("fuel")),
        ];
        assert!(plan(&text).unwrap_err().1.message.contains("not text"));
    }

    #[test]
    fn it_lists_what_it_reads() {
        let expr = parse("litres * factor('diesel_litre') + coalesce(km, price) * factor(\"x\")").unwrap();
        assert_eq!(
            expr.fields().into_iter().collect::<Vec<_>>(),
            ["km", "litres", "price"]
        );
        assert_eq!(
            expr.factor_keys().into_iter().collect::<Vec<_>>(),
            ["diesel_litre", "x"]
        );
    }
}
