"""Sphinx extension: author-year labels for the book's reference list.

sphinxcontrib-bibtex's ``bibtex_reference_style: author_year`` makes the citations in the text
author-year, in square brackets, but the list that ``{bibliography}`` prints keeps pybtex's
numeric or alphabetic labels, and two entries with the same authors and year cite alike. This
extension registers

- the pybtex label style ``hvae-author-year``: "Wood, 1994", "Mardia and Jupp, 2000",
  "Davidson et al., 2018", with a, b, c, ... after the year where several entries share authors
  and year (in the order of the sorted list);
- the pybtex formatting style ``hvae-author-year`` (``bibtex_default_style`` in _config.yml):
  pybtex's ``plain`` style, sorted by author, year and title, with those labels;
- the sphinxcontrib-bibtex reference style ``hvae-author-year`` (``bibtex_reference_style``):
  the ``author_year`` style in round brackets (its default is square ones), with references
  separated by semicolons, (Mardia and Jupp, 2000; Banerjee et al., 2005), and whose year is the
  one of the entry's label, so that a citation in the text reads (Olver and Maximon, 2010b)
  exactly as its entry in the list.
"""

from collections import Counter
from dataclasses import dataclass, field
from string import ascii_lowercase

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)
from sphinxcontrib.bibtex.style.referencing.extra_author import ExtraAuthorReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_empty import ExtraEmptyReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_label import ExtraLabelReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_year import ExtraYearReferenceStyle
from sphinxcontrib.bibtex.style.template import (
    join,
    join2,
    node,
    post_text,
    pre_text,
    reference,
)

NAME = "hvae-author-year"


def _surname(person) -> str:
    """The von part and last name of a pybtex person, without TeX braces."""
    parts = person.prelast_names + person.last_names
    return " ".join(parts).replace("{", "").replace("}", "")


def _authors(entry) -> str:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in persons]
    if not names:
        return entry.fields.get("title", entry.key)
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Authors, Year", with a letter after the year where two would be equal."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        bases = [f"{_authors(e)}, {e.fields.get('year', 'n.d.')}" for e in entries]
        counts, seen = Counter(bases), Counter()
        for base in bases:
            if counts[base] == 1:
                yield base
            else:
                yield base + ascii_lowercase[seen[base]]
                seen[base] += 1


class AuthorYearStyle(PlainStyle):
    """pybtex's plain style (sorted by author, year, title) with author-year labels."""

    default_label_style = NAME


@node
def label_year(children, data):
    """The year of the entry's label ("2010b" in "Olver and Maximon, 2010b")."""
    assert not children
    return Text(data["formatted_entry"].label.rsplit(", ", 1)[-1])


@dataclass
class _Parenthetical(BasicAuthorYearParentheticalReferenceStyle):
    def inner(self, role_name):
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text,
            reference[
                join(sep=self.author_year_sep)[
                    self.person.author_or_editor_or_title(full="s" in role_name),
                    label_year,
                ]
            ],
            post_text,
        ]


@dataclass
class _Textual(BasicAuthorYearTextualReferenceStyle):
    def inner(self, role_name):
        return join(sep=self.text_reference_sep)[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join[
                self.bracket.left,
                join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
                    pre_text,
                    reference[label_year],
                    post_text,
                ],
                self.bracket.right,
            ],
        ]


def _round() -> BracketStyle:
    """Round brackets; several references inside one are separated by semicolons."""
    return BracketStyle(left="(", right=")", sep="; ")


@dataclass
class LabelYearReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author_year style in round brackets, (Wood, 1994) and
    Wood (1994), with the year taken from the label."""

    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)

    def __post_init__(self):
        self.styles.extend(
            [
                _Parenthetical(
                    bracket=self.bracket_parenthetical,
                    person=self.person,
                    author_year_sep=self.author_year_sep,
                    pre_text_sep=self.pre_text_sep,
                    post_text_sep=self.post_text_sep,
                ),
                _Textual(
                    bracket=self.bracket_textual,
                    person=self.person,
                    text_reference_sep=self.text_reference_sep,
                    pre_text_sep=self.pre_text_sep,
                    post_text_sep=self.post_text_sep,
                ),
                ExtraAuthorReferenceStyle(bracket=self.bracket_author, person=self.person),
                ExtraLabelReferenceStyle(bracket=self.bracket_label),
                ExtraYearReferenceStyle(bracket=self.bracket_year),
                ExtraEmptyReferenceStyle(),
            ]
        )
        # GroupReferenceStyle.__post_init__, skipping AuthorYearReferenceStyle's own list
        super(AuthorYearReferenceStyle, self).__post_init__()


register_plugin("pybtex.style.labels", NAME, AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", NAME, AuthorYearStyle)
register_bibtex_plugin("sphinxcontrib.bibtex.style.referencing", NAME, LabelYearReferenceStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
