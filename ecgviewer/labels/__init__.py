"""Label sources → the six classes of Ribeiro et al. (2020).

A :class:`LabelSet` holds one rater's (or one file's) labels for a set of exams: an
``(N, 6)`` int8 matrix in the order of :data:`ecgviewer.classes.CLASSES` with 1 (present),
0 (absent) and -1 (unknown), optional exam identifiers, and per exam the findings that are
not one of the six classes (kept and shown by name).

Sources understood:

* annotator CSVs in the paper's layout (``1dAVb,RBBB,LBBB,SB,AF,ST`` as 0/1, row *i* = exam *i*,
  optionally an ``exam_id`` column or a leading unnamed index column as in ``dnn.csv``);
* WFDB ``#Dx:`` SNOMED CT codes of the PhysioNet/CinC Challenge 2020/21 (``exam.raw_labels["dx"]``);
* the SPH database's ``metadata.csv`` (``SNOMEDCTCode``, or ``AHA_Code`` when no SNOMED column);
* a generic CSV: an exam id and one column per class, or a column of class names / codes
  (``labels``, ``diagnosis``, ``dx``, ...), separated by ``;``, ``,``, ``|`` or spaces.

Matching a label row to an exam (:meth:`LabelSet.row_of`): by exam id when both sides have one,
else by position; the CODE single-exam files ``pacient_<i>.hdf5`` map to row *i* - 1.

Modules (every public name is re-exported here, so ``from ecgviewer.labels import X`` is the way in):
    labelset  :class:`LabelSet`, exam-id matching, the sources' display names, :func:`reference_of`.
    codes     SNOMED CT / AHA codes and class words → the six classes; the labels an exam carries
              (:func:`labels_from_exam`, ``#Dx``).
    files     label files (annotator CSVs, SPH metadata, generic tables) and their discovery.
    compare   one exam's model decisions beside every label source (:func:`compare_exam`).
"""

from ecgviewer.labels.codes import (
    AHA_NAMES,
    AHA_TO_CLASS,
    SNOMED_NAMES,
    SNOMED_TO_CLASS,
    finding_name,
    labels_from_codes,
    labels_from_exam,
    labels_from_exams,
    map_findings,
)
from ecgviewer.labels.compare import ExamComparison, align_to_classes, compare_exam
from ecgviewer.labels.files import (
    check_row_lengths,
    check_table_header,
    discover_labels,
    load_label_file,
    read_class_table,
)
from ecgviewer.labels.labelset import (
    DX_NAME,
    GOLD_NAME,
    UNKNOWN,
    LabelSet,
    reference_of,
    short_name,
    source_name,
)

__all__ = [
    "AHA_NAMES",
    "AHA_TO_CLASS",
    "DX_NAME",
    "GOLD_NAME",
    "SNOMED_NAMES",
    "SNOMED_TO_CLASS",
    "UNKNOWN",
    "ExamComparison",
    "LabelSet",
    "align_to_classes",
    "check_row_lengths",
    "check_table_header",
    "compare_exam",
    "discover_labels",
    "finding_name",
    "labels_from_codes",
    "labels_from_exam",
    "labels_from_exams",
    "load_label_file",
    "map_findings",
    "read_class_table",
    "reference_of",
    "short_name",
    "source_name",
]
