import type { Strings } from './en.js';

/**
 * Le français. Typography: a no-break space (\u00a0) before ":" and a narrow one (\u202f)
 * before ";", "!", "?" and inside « », written as escapes so they can be seen; a unit test
 * checks every string. Neutral wording rather than masculine-only forms ("Inscription
 * confirmée", not "Vous êtes inscrit").
 */
export const fr: Strings = {
  siteLabel: (name, host) => (name ? `${name} (${host})` : host),

  page: {
    listLabel: 'Liste',
    addressLabel: 'Adresse',
    typedAddressLabel: 'Adresse saisie',
    backToSite: (site) => `Revenir sur ${site}`,
    thisList: 'cette liste',

    thanksTitle: 'Consultez votre boîte de réception',
    thanksBody:
      'Si cette adresse peut être inscrite, un e-mail de confirmation est en route. Aucun n’est envoyé si elle est déjà inscrite, si elle a demandé à ne plus rien recevoir ou si elle en a reçu un il y a quelques minutes.',
    thanksNext: (days) =>
      `Ouvrez l’e-mail et appuyez sur son bouton pour confirmer. Regardez dans votre boîte de réception, et dans le dossier des indésirables (spams), d’ici ${days}\u00a0jours\u00a0: passé ce délai, le lien expire.`,
    typoHint: 'Une faute de frappe dans l’adresse\u202f? Revenez en arrière et inscrivez-vous à nouveau avec la bonne adresse.',

    confirmTitle: 'Confirmez votre inscription',
    confirmBody: 'Appuyez sur le bouton pour confirmer que vous souhaitez recevoir cette liste.',
    confirmListBody: (list) => `Appuyez sur le bouton pour confirmer que vous souhaitez recevoir ${list}.`,
    confirmButton: 'Confirmer mon inscription',
    itWasMeTitle: 'Cette demande a été annulée',
    itWasMeBody: (list: string) =>
      `Quelqu’un a choisi « Ce n’était pas moi » dans l’e-mail demandant de confirmer ${list} : la demande a donc été annulée et cette adresse ne reçoit rien. Si c’était bien vous, appuyez sur le bouton : votre inscription est confirmée et cette adresse peut de nouveau recevoir nos e-mails.`,
    itWasMeButton: 'C’était moi — m’inscrire',
    confirmedTitle: 'Inscription confirmée',
    confirmedBody: (list) => `Merci\u00a0: votre inscription à ${list} est confirmée.`,
    alreadyConfirmedBody: (list) => `Votre inscription à ${list} était déjà confirmée. Vous n’avez rien d’autre à faire.`,
    confirmedNext:
      'Chaque e-mail que nous vous envoyons contient un lien de désinscription\u00a0: vous pouvez vous désinscrire à tout moment.',
    expiredTitle: 'Ce lien a expiré',
    expiredBody: 'Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau et nous vous en enverrons un autre.',
    expiredElsewhereBody:
      'Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau là où vous l’aviez fait, et nous vous en enverrons un autre.',
    emailLabel: 'Adresse e-mail',
    typoTitle: (suggestion) => `Vouliez-vous dire ${suggestion}\u202f?`,
    typoBody: (typed) => `Vous avez saisi ${typed}. Cela ressemble à une faute de frappe dans l’adresse d’une messagerie courante.`,
    typoUse: (suggestion) => `Utiliser ${suggestion}`,
    typoKeep: (typed) => `Garder ${typed}`,
    signupAgainButton: 'M’envoyer un nouvel e-mail de confirmation',

    errorTitle: 'Un problème est survenu',
    errorCode: (code) => `Code d’erreur\u00a0: ${code}`,
    back: 'Retour',

    unsubscribeTitle: 'Se désinscrire',
    unsubscribeBody: (list) => `Appuyez sur un bouton pour ne plus recevoir ${list} à cette adresse, ou plus aucune de nos listes.`,
    unsubscribeButton: (list) => `Me désinscrire de ${list}`,
    unsubscribeAllButton: 'Me désinscrire de toutes les listes',
    unsubscribeAllHint: 'Ou ne plus rien recevoir de notre part à cette adresse\u00a0:',
    notMeTitle: 'Ce n’était pas vous\u202f?',
    notMeBody: (list) =>
      `Quelqu’un a demandé à recevoir ${list} à cette adresse. Si ce n’était pas vous, appuyez sur le bouton\u00a0: la demande sera annulée et cette adresse ne recevra plus jamais de message de notre part.`,
    notMeButton: 'Ce n’était pas moi\u00a0: ne plus écrire à cette adresse',
    cancelledTitle: 'Demande annulée',
    cancelledBody: (list) =>
      `La demande d’inscription à ${list} est annulée. Cette adresse ne recevra plus aucun message de notre part, sauf si vous vous inscrivez vous-même.`,
    cancelledUndoButton: 'C’était bien moi\u00a0: m’inscrire',
    unsubscribedTitle: 'Désinscription effectuée',
    unsubscribedBody: (list) => `Cette adresse ne recevra plus ${list}.`,
    unsubscribedAllBody: 'Cette adresse ne recevra plus aucun message de notre part.',
    resubscribeHint: 'Vous avez appuyé par erreur\u202f?',
    resubscribeButton: 'C’était une erreur\u00a0: me réinscrire',
    resubscribedTitle: 'Bon retour parmi nous',
    resubscribedBody: (list) => `Votre inscription à ${list} est de nouveau active.`,
    resubscribedPendingBody: (list) =>
      `Si cette adresse peut être inscrite, un nouvel e-mail de confirmation pour ${list} est en route. Ouvrez-le et appuyez sur son bouton pour confirmer.`,
    resubscribedPendingNext: (days) =>
      `Regardez dans votre boîte de réception, et dans le dossier des indésirables (spams), d’ici ${days}\u00a0jours.`,
  },

  form: {
    emailLabel: 'Adresse e-mail',
    nameLabel: 'Nom (facultatif)',
    honeypotLabel: 'Laissez ce champ vide',
    submit: 'S’inscrire',
  },

  preferences: {
    title: 'Vos abonnements',
    intro:
      'Cochez les listes que vous souhaitez recevoir, décochez les autres, puis enregistrez. Rien ne change avant que vous appuyiez sur le bouton.',
    listsLegend: 'Listes',
    stateLine: (state) => `Actuellement\u00a0: ${state}`,
    dateTime: (date, time) => `${date} à ${time.replace(':', '\u00a0h\u00a0')} UTC`,
    state: {
      confirmed: 'abonnement actif',
      pending: 'en attente de votre confirmation',
      unsubscribed: 'désinscription faite',
      none: 'pas d’abonnement',
    },
    save: 'Enregistrer mes choix',
    unsubscribeAllHint: 'Ou ne plus rien recevoir de notre part à cette adresse\u00a0:',
    unsubscribeAll: 'Me désinscrire de tout',
    noLists: 'Aucune liste à afficher.',
    blockedTitle: 'Cette adresse ne peut pas recevoir nos e-mails',
    blocked: {
      bounced:
        'Les e-mails envoyés à cette adresse ont été rejetés, nous avons donc cessé d’y écrire. Ce n’est pas modifiable ici\u00a0: contactez le site si l’adresse fonctionne à nouveau.',
      complained:
        'Un message envoyé à cette adresse a été signalé comme spam, nous avons donc cessé d’y écrire. Ce n’est pas modifiable ici\u00a0: contactez le site s’il s’agit d’une erreur.',
      manual: 'Le site a bloqué l’envoi d’e-mails à cette adresse. Ce n’est pas modifiable ici\u00a0: contactez le site.',
      erased: 'Les données de cette adresse ont été effacées. Elle ne recevra plus jamais d’e-mail.',
      unsubscribed: 'Vous nous avez demandé de ne plus écrire à cette adresse.',
    },
    blockedList: (list) => `${list}\u00a0: bloquée, voir ci-dessus.`,
    savedTitle: 'Vos choix sont enregistrés',
    savedNothing: 'Rien n’a changé\u00a0: c’étaient déjà vos choix.',
    subscribedTo: (lists) => `Abonnement fait maintenant\u00a0: ${lists}.`,
    unsubscribedFrom: (lists) => `Désinscription faite maintenant\u00a0: ${lists}.`,
    notChanged: (lists) => `Inchangé, car cette adresse est bloquée\u00a0: ${lists}.`,
    consentNeeded: (lists) =>
      `Pas d’abonnement\u00a0: ${lists}. Pour vous abonner, cochez aussi la case de sa déclaration de consentement.`,
    notJoinedNow: (lists) =>
      `Pas d’abonnement pour l’instant\u00a0: ${lists}. Ce lien a servi trop souvent en peu de temps pour s’abonner\u00a0: réessayez dans une heure.`,
    unsubscribedAll: 'Cette adresse ne recevra plus aucun e-mail de notre part.',
    backToPreferences: 'Revenir à vos abonnements',

    dataTitle: 'Vos données',
    dataIntro: 'Voici tout ce que nous conservons à votre sujet.',
    nameLabel: 'Nom',
    noName: 'aucun',
    trailTitle: 'Ce qui s’est passé, et quand',
    trailEmpty: 'Rien d’enregistré.',
    trailHeaders: { at: 'Date (UTC)', list: 'Liste', action: 'Événement', source: 'Depuis' },
    action: {
      subscribe_requested: 'demande d’inscription',
      confirmed: 'confirmation',
      unsubscribed: 'désinscription',
      resubscribed: 'nouvelle inscription',
      not_me: 'demande signalée comme non faite',
      suppressed: 'blocage',
      suppression_lifted: 'déblocage',
      confirmation_expired: 'demande expirée',
      erased: 'effacement',
      unsubscribe_reason: 'raison du départ donnée',
      data_exported: 'téléchargement des données',
      identity_migrated: 'écriture de l’adresse mise à jour',
    },
    everyList: 'toutes les listes',
    ipLabel: (ip) => `IP ${ip}`,
    useTitle: 'Ce que nous en faisons',
    use: 'Nous utilisons votre adresse uniquement pour envoyer les listes que vous avez choisies, et votre nom uniquement pour vous saluer. Nous gardons l’historique ci-dessus comme preuve de votre consentement. Nous ne partageons rien.',
    retention: (days) =>
      `Les demandes jamais confirmées sont supprimées après 7\u00a0jours. Une fois que vous avez quitté toutes les listes, nous supprimons votre nom, votre langue et l’endroit où vous vous êtes inscrit·e, ainsi que les adresses IP et navigateurs de l’historique, après ${days}\u00a0jours. Nous gardons pour toujours une empreinte de votre adresse, uniquement pour ne plus jamais vous écrire.`,
    retentionNow:
      'Les demandes jamais confirmées sont supprimées après 7\u00a0jours. Une fois que vous avez quitté toutes les listes, nous supprimons aussitôt votre nom, votre langue et l’endroit où vous vous êtes inscrit·e, ainsi que les adresses IP et navigateurs de l’historique. Nous gardons pour toujours une empreinte de votre adresse, uniquement pour ne plus jamais vous écrire.',
    minimizesOn: (date) => `Vous avez quitté toutes les listes\u00a0: ces informations seront supprimées le ${date}.`,
    minimized: 'Vous avez quitté toutes les listes\u00a0: nous avons déjà supprimé ce dont nous n’avions pas besoin.',
    download: 'Télécharger mes données',
    eraseHint: 'Effacer tout ce que nous conservons à votre sujet. C’est irréversible.',
    erase: 'Tout effacer',
    eraseTitle: 'Tout effacer\u202f?',
    eraseBody:
      'Nous supprimerons votre adresse, votre nom, vos abonnements et l’historique de votre consentement. Seule une empreinte chiffrée de l’adresse reste, pour qu’elle ne reçoive plus jamais d’e-mail, même si quelqu’un l’inscrit. C’est irréversible.',
    eraseConfirm: 'Oui, tout effacer',
    erasedTitle: 'Vos données sont effacées',
    erasedBody:
      'Nous avons supprimé tout ce qui vous concerne. Seule une empreinte de votre adresse reste, pour ne plus jamais lui écrire.',
    eraseByMail: 'Pour être sûrs que c’est vous, nous envoyons un lien à cette adresse\u00a0: l’effacement ne se fait que depuis ce lien.',
    eraseSendLink: 'M’envoyer le lien',
    linkSentTitle: 'Consultez votre messagerie',
    linkSent: {
      erase: (address, minutes) =>
        `Nous avons envoyé un lien à ${address}. Il efface tout, une seule fois, dans les ${minutes}\u00a0minutes. Rien n’est effacé tant que vous ne l’avez pas suivi.`,
      export: (address, minutes) =>
        `Nous avons envoyé un lien à ${address}. Il télécharge vos données, une seule fois, dans les ${minutes}\u00a0minutes.`,
    },
    linkRefused:
      'Nous n’envoyons plus d’e-mails à cette adresse\u00a0: nous ne pouvons donc pas envoyer le lien. Écrivez au site pour le demander.',
    downloadTitle: 'Télécharger vos données',
    downloadBody:
      'Le fichier contient tout ce que nous conservons à votre sujet, avec les adresses IP et navigateurs de l’historique en entier. Ce lien ne fonctionne qu’une fois.',
  },

  reasons: {
    legend: 'Pouvez-vous nous dire pourquoi\u202f? (facultatif)',
    choices: {
      too_many: 'Trop d’e-mails',
      not_relevant: 'Cela ne me concerne pas',
      never_signed_up: 'Je ne me suis jamais inscrit·e',
      other: 'Autre',
    },
    commentLabel: 'Autre chose\u202f? (facultatif, 500\u00a0caractères au plus)',
    submit: 'Envoyer',
    thanksTitle: 'Merci',
    thanksBody: 'Merci de nous l’avoir dit. Votre désinscription reste faite\u202f; rien d’autre ne change.',
  },

  errors: {
    fallback: 'Cette demande n’a pas pu aboutir. Réessayez, ou revenez sur le site d’où vous venez.',
    invalid_email: 'Cette adresse e-mail ne semble pas correcte. Vérifiez-la et réessayez.',
    missing_field: 'Un champ obligatoire du formulaire est vide. Remplissez-le et réessayez.',
    invalid_field: 'Un champ du formulaire contient une valeur inutilisable. Vérifiez-le et réessayez.',
    field_too_long: 'Un champ du formulaire est trop long. Raccourcissez-le et réessayez.',
    invalid_locale: 'Le formulaire demande une langue dont le code n’est pas valable.',
    captcha_failed: 'La vérification anti-robot a échoué. Veuillez réessayer.',
    captcha_unavailable: 'La vérification anti-robot est indisponible pour le moment. Réessayez dans un instant.',
    rate_limited: 'Trop de demandes sont venues de votre réseau. Patientez une minute, puis réessayez.',
    link_rate_limited: 'Ce lien a servi trop souvent en peu de temps. Patientez une heure, puis réessayez.',
    unknown_list: 'Cette liste n’existe pas, ou n’accepte plus d’inscriptions.',
    missing_token: 'Ce lien est incomplet. Ouvrez-le à nouveau depuis l’e-mail, tel quel.',
    invalid_token: 'Ce lien n’est pas valable. Ouvrez-le à nouveau depuis l’e-mail, tel quel.',
    expired_token: 'Ce lien a expiré. Inscrivez-vous à nouveau pour en recevoir un autre.',
    expired: 'Ce lien de confirmation a expiré. Inscrivez-vous à nouveau pour en recevoir un autre.',
    cross_site:
      'Cette demande venait d’un autre site\u00a0: nous ne l’avons pas suivie. Ouvrez la page depuis le lien de votre e-mail et réessayez.',
    data_link_expired:
      'Ce lien a expiré. Demandez-en un nouveau depuis votre page de préférences (le lien présent dans chacun de nos e-mails).',
    data_link_used: 'Ce lien a déjà servi. Demandez-en un nouveau depuis votre page de préférences si besoin.',
    disposable_address: 'Cette adresse est celle d’une messagerie jetable. Inscrivez-vous avec une adresse que vous gardez.',
    address_typo: 'Cette adresse ressemble à une faute de frappe dans le nom d’une messagerie courante. Vérifiez-la et réessayez.',
    undeliverable_domain:
      'Le domaine de cette adresse ne peut pas recevoir d’e-mails. Vérifiez qu’il ne contient pas de faute et réessayez.',
    unknown_subscription: 'Cette inscription n’existe plus\u00a0: cette adresse ne reçoit plus rien de notre part.',
    subscription_closed: 'Cette demande a été annulée. Pour recevoir la liste, inscrivez-vous à nouveau.',
    subscription_open: 'Cette demande attend encore sa confirmation : ouvrez de nouveau le lien de l’e-mail et appuyez sur son bouton.',
    address_blocked:
      'Cette adresse a demandé à ne plus recevoir nos messages\u00a0: elle ne peut donc être ni confirmée ni inscrite depuis cette page. Pour changer cela, contactez le site.',
    not_found: 'Cette page n’existe pas.',
    invalid_path: 'Cette adresse n’est pas valable\u00a0: une partie en est abîmée. Ouvrez de nouveau le lien tel qu’il vous a été donné.',
    internal_error: 'Un problème est survenu de notre côté. Réessayez dans un instant.',
    payload_too_large: 'Le formulaire a envoyé trop de données.',
    too_many_fields: 'Le formulaire a envoyé trop de champs.',
    invalid_body: 'Le formulaire n’a pas pu être lu.',
    request_aborted: 'La demande a été interrompue avant d’arriver. Veuillez réessayer.',
    unsupported_media_type: 'Le formulaire a été envoyé dans un format que ce service ne lit pas.',
    unsupported_encoding: 'Le formulaire a été envoyé dans un encodage que ce service ne lit pas.',
    unsupported_charset: 'Le formulaire a été envoyé dans un jeu de caractères que ce service ne lit pas.',
    unknown_consent_version: 'Ce formulaire n’est plus à jour. Rechargez la page et réessayez.',
    consent_required: 'Cochez la case pour donner votre accord avant de vous inscrire.',
    invalid_consent_text: 'La déclaration de consentement n’est pas valable.',
    invalid_reason: 'Choisissez l’une des raisons proposées.',
  },
};
