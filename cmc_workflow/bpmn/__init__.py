"""BPMN 2.0 XML export of workflows, for bpmn.io, Camunda Modeler and other BPMN tools.

:func:`to_bpmn` turns a checked workflow into a BPMN 2.0 XML document with its diagram
(BPMNDI): a pool with one lane per role, tasks, gateways, events and timer boundary events,
labels in Chinese (or English). Pure: no I/O, no engine, no store. What maps to what is in
:mod:`cmc_workflow.bpmn.mapping` and ``docs/how-to-bpmn.md``; the layout in
:mod:`cmc_workflow.bpmn.layout`. Import is not offered.
"""

from __future__ import annotations

from cmc_workflow.bpmn.mapping import Process, build_process
from cmc_workflow.bpmn.writer import process_xml, to_bpmn

__all__ = ["Process", "build_process", "file_name", "process_xml", "to_bpmn"]


def file_name(workflow_id: str) -> str:
    """The file a workflow's export is written to: ``<id>.bpmn``."""
    return f"{workflow_id}.bpmn"
