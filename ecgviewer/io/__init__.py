"""Reading ECG exams from HDF5, WFDB and CSV files and from what carts and hospital systems export
(GE MUSE XML, Philips XML, HL7 aECG, DICOM, SCP-ECG, EDF; see :mod:`ecgviewer.io.clinical`).

One call opens files or folders as a lazy sequence of :class:`~ecgviewer.exam.Exam`::

    from ecgviewer.io import open_exams
    with open_exams("recordings/") as exams:
        print(len(exams), exams.header(0), exams.errors)
        exam = exams[0]          # samples in mV, read now

Readers are chosen by content (HDF5 signature, DICOM preamble, XML root element, SCP-ECG layout
and CRC, EDF header, WFDB record line, a table of numbers), then by extension; see
:mod:`ecgviewer.io.registry` to add one.
"""

from __future__ import annotations

from ecgviewer.io.base import DEFAULT_FS, MAX_FS, MIN_FS, ExamSource, NotAnExamError, unit_to_mv
from ecgviewer.io.examset import ExamSet, open_exams, read_exam
from ecgviewer.io.registry import READERS, Reader, file_dialog_filter, register_reader, supported_suffixes

SUPPORTED_SUFFIXES: tuple[str, ...] = supported_suffixes()
"""File extensions ecgviewer reads (".h5", ".dcm", ".xml", ".scp", ".edf", ".hea", ".csv", ...)."""

FILE_DIALOG_FILTER: str = file_dialog_filter()
"""Name filter for Qt file dialogs: all ECG files, then one entry per format."""

__all__ = [
    "DEFAULT_FS",
    "FILE_DIALOG_FILTER",
    "MAX_FS",
    "MIN_FS",
    "READERS",
    "SUPPORTED_SUFFIXES",
    "ExamSet",
    "ExamSource",
    "NotAnExamError",
    "Reader",
    "open_exams",
    "read_exam",
    "register_reader",
    "unit_to_mv",
]
