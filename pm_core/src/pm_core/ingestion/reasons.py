"""Reason codes a run can end with when it is not completed."""

#: Prompts that are valid but deliberately not run: recorded as skipped and not retried.
SKIP_REASONS = frozenset({"empty_prompt", "over_max_context_length", "cross_dataset_duplicate"})

NON_FINITE = "non_finite_activation"
