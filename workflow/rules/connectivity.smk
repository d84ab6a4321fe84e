localrules:
    connectivity_table,


rule curve:
    """The bend of a trained Bezier curve between two training seeds (resumable)."""
    input:
        unpack(job_inputs("curve")),
    output:
        bend=paths.CURVE,
        history=paths.CURVE_HISTORY,
    log:
        paths.log("connectivity/{model}/{seeds}_curve"),
    benchmark:
        paths.benchmark("connectivity/{model}/{seeds}_curve")
    conda:
        ENV
    threads: config["threads"]["train"]
    resources:
        **job_resources("curve"),
    params:
        **job_params("curve", resume=paths.CURVE_RESUME),
    shell:
        job_command("curve")


rule connectivity:
    """The loss between two training seeds, straight, after weight matching and along the trained curve, on both splits."""
    input:
        unpack(job_inputs("connectivity")),
    output:
        npz=paths.CONNECTIVITY,
        json=paths.CONNECTIVITY_JSON,
    log:
        paths.log("connectivity/{model}/{seeds}"),
    benchmark:
        paths.benchmark("connectivity/{model}/{seeds}")
    conda:
        ENV
    threads: config["threads"]["chunk"]
    resources:
        **job_resources("connectivity"),
    params:
        **job_params("connectivity"),
    shell:
        job_command("connectivity")


rule connectivity_table:
    """The barriers between seeds of every model, as a table and a figure."""
    input:
        **PLAN.inputs("connectivity_table", {}),
    output:
        csv=paths.CONNECTIVITY_TABLE,
        md=report(paths.CONNECTIVITY_TABLE_MD, caption="../report/connectivity.rst", category="connectivity"),
        png=report(
            paths.CONNECTIVITY_FIGURE,
            caption="../report/connectivity.rst",
            category="connectivity",
            labels={"model": "all", "figure": "mode connectivity"},
        ),
    log:
        paths.log("connectivity/table"),
    benchmark:
        paths.benchmark("connectivity/table")
    conda:
        ENV
    params:
        **job_params("connectivity_table"),
    shell:
        job_command("connectivity_table")
