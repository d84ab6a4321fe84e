# CIFAR-10 ResNet/PlainNet training and loss landscapes (He et al. 2016; Li et al. 2018).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/landscape.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/interpolation.smk"
include: "workflow/rules/trajectory.smk"
include: "workflow/rules/geometry.smk"
include: "workflow/rules/connectivity.smk"


rule sweep:
    """The Net sweep: its runs' tables and heat maps, and the augmentation ablation."""
    default_target: False
    input:
        PLAN.sweep_targets(),


rule study:
    """Everything of the study's models: training, surfaces, views, geometry, reports, the page."""
    default_target: False
    input:
        PLAN.study_targets(),


rule views:
    """loss-landscape's other views: 1-D curves, interpolations, trajectories, ParaView files, Hessian planes."""
    default_target: False
    input:
        PLAN.view_targets(),


rule geometry:
    """The geometry table, the claims, the eigenvalue-ratio maps and densities."""
    default_target: False
    input:
        PLAN.geometry_targets(),


rule paraview:
    """Every landscape as a ParaView file."""
    default_target: False
    input:
        PLAN.paraview_targets(),


localrules:
    all,
    sweep,
    study,
    views,
    geometry,
    paraview,


rule all:
    """The study and the Net sweep (the default target)."""
    default_target: True
    input:
        PLAN.all_targets(),
