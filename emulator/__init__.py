"""An embedded AWS (moto) running the synthesized stack in-process: the local run and the
end-to-end tests both use it."""
