"""pyformat placeholders, converted to dbmd's $n only where they are placeholders.

Each statement runs on a real dbmd: a placeholder converted inside a literal, an identifier,
a comment or a dollar-quoted string would change the result or the parameter count.  The
parameters are strings: a parameter in a select list has no type for the database to infer
but text, so that is what comes back whatever Python type was sent.
"""

import pytest

import dbmclient


@pytest.fixture
def cur(target):
    c = target.connect(autocommit=True)
    yield c.cursor()
    c.close()


@pytest.fixture
def pg_cur(pg_target):
    c = pg_target.connect(autocommit=True)
    yield c.cursor()
    c.close()


def one(cur, sql, params=None):
    cur.execute(sql, params)
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_positional_placeholders(cur):
    assert one(cur, "SELECT %s, %s, %s", ("one", "two", None)) == ("one", "two", None)
    assert one(cur, "SELECT %s", ["list"]) == ("list",)
    assert one(cur, "SELECT %s + 1", (41,)) == (42,)
    # Parameters are values, never text spliced into the statement.
    assert one(cur, "SELECT %s, %s", ("%s", "$1 ' \" -- /*")) == ("%s", "$1 ' \" -- /*")


def test_named_placeholders(cur):
    assert one(cur, "SELECT %(a)s, %(b)s, %(a)s", {"a": "A", "b": "x"}) == ("A", "x", "A")
    assert one(cur, "SELECT %(long_name_1)s", {"long_name_1": "v", "unused": 9}) == ("v",)
    assert one(cur, "SELECT %(n)s * 2", {"n": 21}) == (42,)


def test_percent_percent_is_a_percent_when_there_are_parameters(cur):
    assert one(cur, "SELECT 7 %% 3, %s", ("p",)) == (1, "p")
    assert one(cur, "SELECT 7 %% %(m)s", {"m": 4}) == (3,)


def test_percent_without_parameters_is_left_alone(cur):
    assert one(cur, "SELECT 7 % 3") == (1,)
    assert one(cur, "SELECT '100%'") == ("100%",)


def test_dollar_placeholders_pass_through(target, cur):
    sql = "SELECT $1::int + 1, $2" if target.is_pg else "SELECT $1 + 1, $2"
    assert one(cur, sql, (41, "b")) == (42, "b")
    assert one(cur, "SELECT $2, $1", ("first", "second")) == ("second", "first")


def test_placeholders_in_string_literals_are_untouched(cur):
    assert one(cur, "SELECT %s, '%s', 'it''s %s', '%(x)s'", ("p",)) == \
        ("p", "%s", "it's %s", "%(x)s")
    assert one(cur, "SELECT '$1', %s", ("v",)) == ("$1", "v")
    assert one(cur, "SELECT %(a)s, '%(a)s'", {"a": "v"}) == ("v", "%(a)s")


def test_placeholders_in_quoted_identifiers_are_untouched(cur):
    cur.execute('SELECT %s AS "col %s", 2 AS "it\'s %(x)s", 3 AS "q""%s"', ("p",))
    assert [d[0] for d in cur.description] == ["col %s", "it's %(x)s", 'q"%s']
    assert cur.fetchall() == [("p", 2, 3)]


def test_placeholders_in_comments_are_untouched(cur):
    assert one(cur, "SELECT %s -- it's %s and %(x)s\n, %s", ("a", "b")) == ("a", "b")
    assert one(cur, "SELECT %s /* it's %s */, /* \"%s */ %s", ("a", "b")) == ("a", "b")
    assert one(cur, "SELECT %s, 2 -- trailing %s", ("a",)) == ("a", 2)


def test_nested_block_comments_on_postgresql(pg_cur):
    assert one(pg_cur, "SELECT %s /* outer /* inner %s */ still comment %s ' */, %s",
               ("a", "b")) == ("a", "b")


def test_escape_strings_on_postgresql(pg_cur):
    assert one(pg_cur, r"SELECT E'it\'s %s', %s", ("p",)) == ("it's %s", "p")
    assert one(pg_cur, r"SELECT e'\\', %s, '\'", ("p",)) == ("\\", "p", "\\")


def test_dollar_quoted_strings_on_postgresql(pg_cur):
    assert one(pg_cur, "SELECT $$a %s 'b$$, %s", ("p",)) == ("a %s 'b", "p")
    assert one(pg_cur, "SELECT $tag$ %s $$ %(x)s ' $tag$, %s", ("p",)) == \
        (" %s $$ %(x)s ' ", "p")
    assert one(pg_cur, "SELECT $q$$1 %s$q$, $1", ("p",)) == ("$1 %s", "p")
    assert one(pg_cur, "SELECT $a$ $b$ %s $b$ $a$, %s", ("p",)) == (" $b$ %s $b$ ", "p")


def test_casts_and_operators_around_placeholders(pg_cur):
    assert one(pg_cur, "SELECT %s::int + %s::int", (1, 2)) == (3,)
    assert one(pg_cur, "SELECT %(a)s::text || %(a)s::text", {"a": "x"}) == ("xx",)
    assert one(pg_cur, "SELECT '{1,2}'::int[] @> ARRAY[%s]::int[]", (2,)) == (True,)


@pytest.mark.parametrize("sql,params", [
    ("SELECT %s, %s", ("a",)),
    ("SELECT %s", ("a", "b")),
    ("SELECT %s", ()),
    ("SELECT %(a)s, %(b)s", {"a": "a"}),
    ("SELECT 1", ("a",)),
    ("SELECT $1, $2", ("a",)),
    ("SELECT $1", ("a", "b")),
], ids=["too_few", "too_many", "none_of_one", "missing_name", "one_for_no_placeholder",
        "too_few_dollar", "too_many_dollar"])
def test_wrong_parameter_count_is_a_programming_error(cur, sql, params):
    with pytest.raises(dbmclient.ProgrammingError):
        cur.execute(sql, params)
    # Nothing was broken by the refusals.
    assert one(cur, "SELECT %s", ("ok",)) == ("ok",)
