-- What PostGraphile needs on top of mlgraph's tables (applied by bench/compare.py, idempotent).
-- ModelVersion.deployments goes through deployment_target, newest first (storage/graph.py);
-- PostGraphile has no many-to-many relations in core, so a computed column gives the same rows.
CREATE OR REPLACE FUNCTION public.model_version_deployments(mv public.model_version)
RETURNS SETOF public.deployment
LANGUAGE sql STABLE AS $$
  SELECT d.*
  FROM public.deployment d
  JOIN public.deployment_target t ON t.deployment_id = d.id
  WHERE t.version_id = mv.id
  ORDER BY d.created_at DESC, d.id DESC
$$;
