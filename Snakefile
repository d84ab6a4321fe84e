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


rule sweep:
    default_target: False
    input:
        PLAN.sweep_targets(),


rule study:
    default_target: False
    input:
        PLAN.study_targets(),


rule views:
    default_target: False
    input:
        PLAN.view_targets(),


rule geometry:
    default_target: False
    input:
        PLAN.geometry_targets(),


rule paraview:
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
    default_target: True
    input:
        PLAN.all_targets(),
