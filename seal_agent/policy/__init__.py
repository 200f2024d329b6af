"""The self-edit policy: what the model is asked, how it writes, what counts as a self-edit.

    prompts      the messages that ask for an ARC self-edit, the tools' JSON schemas, the grammar
    local        LocalToolPolicy: a LangChain chat model over the local model, sampling under
                 the grammar (the vLLM policy in `seal_agent.vllm_backend` shares its interface)
    candidates   sampled messages <-> the plain-JSON candidates the graph state holds
    self_edit    validation: tool calls -> a SelfEdit (augmentations, training) or a Rejection
    chat_models  any LangChain chat model as a frozen proposer (`eval.teacher`)
"""
